// AVX-512 VNNI kernels: weights in ggml block formats against 8-bit activations.
//
// Each weight block is unpacked to unsigned bytes (the format's quant without its offset: 0..15, 0..31, 0..63)
// and multiplied with the signed activation bytes by `vpdpbusd`, two 32-value blocks (64 bytes) per instruction.
// The 16 int32 lanes of a product hold four-value partial sums, 8 lanes per block (4 per Q6_K sub-block); they
// are converted to float and multiplied lane-wise by each block's d_w·d_x (one `vpermps` spreads the block scales
// to their lanes) into a float accumulator, so nothing is summed horizontally before the end of the row. Offsets
// (Q4_1's m, Q4_0's -8·d, K-quant mins, Q6_K's -32) are folded in once per block through the activation block
// sums. Q8_0's signed weights use |w| against x carrying w's sign (AVX-512 has no signed×signed VNNI).
//
// One call handles 1-4 tokens per row, so during prefill each block is unpacked once for up to four tokens.
#if defined(__x86_64__)

#include "internal.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float hsum512(__m512 v) {
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), hi));
}

INLINE float half_to_float(const uint8_t *p) { return _cvtsh_ss(kiln_load_u16(p)); }

TARGET void kiln_quantize_q8_avx512(const float *x, int64_t k, int64_t tokens, int64_t x_stride, kiln_q8_act act) {
    const int64_t nb = k / 32;
    for (int64_t t = 0; t < tokens; t++) {
        const float *xt = x + t * x_stride;
        int8_t *qs = act.qs + t * k;
        for (int64_t b = 0; b < nb; b++) {
            const __m512 v0 = _mm512_loadu_ps(xt + b * 32), v1 = _mm512_loadu_ps(xt + b * 32 + 16);
            const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            const float d = amax / 127.0f;
            const float id = d != 0 ? 1.0f / d : 0.0f;
            const __m512 vid = _mm512_set1_ps(id);
            const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
            const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
            _mm_storeu_si128((__m128i *)(qs + b * 32), _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(qs + b * 32 + 16), _mm512_cvtsepi32_epi8(q1));
            const int s0 = _mm512_reduce_add_epi32(q0), s1 = _mm512_reduce_add_epi32(q1);
            kiln_store_block(&act, t, k, b, qs + b * 32, d, s0, s1);
        }
    }
}

// MARK: 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)

INLINE int block_bytes(uint32_t type) {
    switch (type) {
    case T_Q4_0: return 18;
    case T_Q4_1: return 20;
    case T_Q5_0: return 22;
    case T_Q5_1: return 24;
    default: return 34;
    }
}

/// Offset of the quants in a block.
INLINE int quants_offset(uint32_t type) {
    switch (type) {
    case T_Q4_0: return 2;
    case T_Q4_1: return 4;
    case T_Q5_0: return 6;
    case T_Q5_1: return 8;
    default: return 2;
    }
}

/// Blocks a (values 0..<32) and b (32..<64) as 64 bytes; b is read only when `two`.
INLINE __m512i unpack_pair(uint32_t type, const uint8_t *a, const uint8_t *b, int two) {
    const int qo = quants_offset(type);
    if (type == T_Q8_0) {
        const __m256i lo = _mm256_loadu_si256((const __m256i *)(a + qo));
        const __m256i hi = _mm256_maskz_loadu_epi8(two ? 0xffffffffu : 0, b + qo);
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    // 128-bit lanes [a, a, b, b], then the high nibbles of lanes 1 and 3: values 0..15 and 16..31 of each block.
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(a + qo)));
    v = _mm512_mask_broadcast_i32x4(v, 0xff00, _mm_maskz_loadu_epi8(two ? 0xffff : 0, b + qo));
    const __m512i shifts = _mm512_set_epi64(
        0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0);
    v = _mm512_and_si512(_mm512_srlv_epi16(v, shifts), _mm512_set1_epi8(0x0f));
    if (type == T_Q5_0 || type == T_Q5_1) {
        const int qh = type == T_Q5_0 ? 2 : 4;
        const uint64_t high = (uint64_t)kiln_load_u32(a + qh) | ((uint64_t)(two ? kiln_load_u32(b + qh) : 0) << 32);
        v = _mm512_mask_add_epi8(v, (__mmask64)high, v, _mm512_set1_epi8(16));
    }
    return v;
}

INLINE void rows_block32(
    const uint32_t type, const int nt, const uint8_t *row, const kiln_q8_act *act, int64_t t0, int64_t k,
    float *out) {
    const int bs = block_bytes(type);
    const int64_t nb = k / 32;
    const int has_offset = type != T_Q8_0;
    const int8_t *xq[4];
    const float *xd[4], *xs[4];
    __m512 acc[4];
    __m256 oacc[4];
    for (int t = 0; t < nt; t++) {
        xq[t] = act->qs + (t0 + t) * k;
        xd[t] = act->d + (t0 + t) * nb;
        xs[t] = act->s + (t0 + t) * nb;
        acc[t] = _mm512_setzero_ps();
        oacc[t] = _mm256_setzero_ps();
    }
    const __m256i offsets = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(bs));
    const __m512i pair_lanes = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t g = 0; g < nb; g += 8) {
        const int n = nb - g < 8 ? (int)(nb - g) : 8;
        const __mmask8 gm = (__mmask8)((1u << n) - 1);
        const uint8_t *p = row + g * bs;
        // d (and m) of the group's eight blocks: one gather of their first four bytes.
        const __m256i dm = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), gm, offsets, p, 1);
        const __m256 wd = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(dm));
        __m256 wm = _mm256_setzero_ps();
        if (type == T_Q4_1 || type == T_Q5_1) wm = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(dm, 16)));
        if (type == T_Q4_0) wm = _mm256_mul_ps(wd, _mm256_set1_ps(-8));
        if (type == T_Q5_0) wm = _mm256_mul_ps(wd, _mm256_set1_ps(-16));
        __m512 scale[4];
        for (int t = 0; t < nt; t++) {
            scale[t] = _mm512_castps256_ps512(_mm256_mul_ps(wd, _mm256_maskz_loadu_ps(gm, xd[t] + g)));
            if (has_offset) oacc[t] = _mm256_fmadd_ps(wm, _mm256_maskz_loadu_ps(gm, xs[t] + g), oacc[t]);
        }
        for (int j = 0; j < n; j += 2) {
            const int two = j + 1 < n;
            const __m512i w = unpack_pair(type, p + j * bs, p + (j + 1) * bs, two);
            const __m512i lanes = _mm512_add_epi32(pair_lanes, _mm512_set1_epi32(j));
            const __mmask64 xm = two ? ~(__mmask64)0 : 0xffffffffu;
            __m512i wabs = w;
            __mmask64 negative = 0;
            if (type == T_Q8_0) {
                wabs = _mm512_abs_epi8(w);
                negative = _mm512_movepi8_mask(w);
            }
            for (int t = 0; t < nt; t++) {
                __m512i x = _mm512_maskz_loadu_epi8(xm, xq[t] + (g + j) * 32);
                if (type == T_Q8_0) x = _mm512_mask_sub_epi8(x, negative, _mm512_setzero_si512(), x);
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wabs, x);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(lanes, scale[t]), acc[t]);
            }
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum512(acc[t]) + hsum256(oacc[t]);
}

// MARK: K-quants

/// Q4_K (`five` = 0) and Q5_K: per super-block of 256 values, eight 32-value sub-blocks with 6-bit scales and mins:
/// w = d·scale_j·q - dmin·min_j.
INLINE void rows_q45_k(
    const int five, const int nt, const uint8_t *row, const kiln_q8_act *act, int64_t t0, int64_t k, float *out) {
    const int64_t nb = k / 32;
    const int bytes = five ? 176 : 144;
    const int8_t *xq[4];
    const float *xd[4], *xs[4];
    __m512 acc[4];
    __m256 macc[4];
    for (int t = 0; t < nt; t++) {
        xq[t] = act->qs + (t0 + t) * k;
        xd[t] = act->d + (t0 + t) * nb;
        xs[t] = act->s + (t0 + t) * nb;
        acc[t] = _mm512_setzero_ps();
        macc[t] = _mm256_setzero_ps();
    }
    const __m512i nibble_shift = _mm512_set_epi64(
        0x0004000400040004, 0x0004000400040004, 0x0004000400040004, 0x0004000400040004, 0, 0, 0, 0);
    const __m512i pair_lanes = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t sb = 0; sb < k / 256; sb++) {
        const uint8_t *p = row + sb * bytes;
        uint64_t sc, mn;
        kiln_k_scales(p + 4, &sc, &mn);
        const __m256 scales = _mm256_mul_ps(
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))),
            _mm256_set1_ps(half_to_float(p)));
        const __m256 mins = _mm256_mul_ps(
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn))),
            _mm256_set1_ps(half_to_float(p + 2)));
        __m512 scale[4];
        for (int t = 0; t < nt; t++) {
            scale[t] = _mm512_castps256_ps512(_mm256_mul_ps(scales, _mm256_loadu_ps(xd[t] + sb * 8)));
            macc[t] = _mm256_fmadd_ps(mins, _mm256_loadu_ps(xs[t] + sb * 8), macc[t]);
        }
        __m512i high = _mm512_setzero_si512();
        if (five) high = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p + 16)));
        const uint8_t *qs = p + (five ? 48 : 16);
        for (int c = 0; c < 4; c++) {
            // 32 bytes: low nibbles are sub-block 2c, high nibbles 2c+1.
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(q), q, 1);
            w = _mm512_and_si512(_mm512_srlv_epi16(w, nibble_shift), _mm512_set1_epi8(0x0f));
            if (five) {
                const __m512i bit = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (2 * c)))),
                    _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
                w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(high, bit), w, _mm512_set1_epi8(16));
            }
            const __m512i lanes = _mm512_add_epi32(pair_lanes, _mm512_set1_epi32(2 * c));
            for (int t = 0; t < nt; t++) {
                const __m512i x = _mm512_loadu_si512((const void *)(xq[t] + sb * 256 + 64 * c));
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, x);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(lanes, scale[t]), acc[t]);
            }
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum512(acc[t]) - hsum256(macc[t]);
}

/// Q6_K: per super-block of 256 values, sixteen 16-value sub-blocks with int8 scales: w = d·scale_s·(q - 32).
INLINE void rows_q6_k(const int nt, const uint8_t *row, const kiln_q8_act *act, int64_t t0, int64_t k, float *out) {
    const int64_t nb = k / 32;
    const int8_t *xq[4];
    const float *xd[4];
    const int16_t *xsum[4];
    __m512 acc[4], oacc[4];
    for (int t = 0; t < nt; t++) {
        xq[t] = act->qs + (t0 + t) * k;
        xd[t] = act->d + (t0 + t) * nb;
        xsum[t] = act->sums + (t0 + t) * (k / 16);
        acc[t] = _mm512_setzero_ps();
        oacc[t] = _mm512_setzero_ps();
    }
    const __m512i block_of_sub = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i sub_lanes = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    // High two bits of values 0..31 / 32..63 / 64..95 / 96..127 of a half sit at bits 0-1 / 2-3 / 4-5 / 6-7 of qh;
    // these shifts move them to bits 4-5.
    const __m512i shift_lo = _mm512_set_epi64(
        0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0004000400040004,
        0x0004000400040004, 0x0004000400040004, 0x0004000400040004);
    const __m512i shift_hi = _mm512_set_epi64(
        0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x30);
    for (int64_t sb = 0; sb < k / 256; sb++) {
        const uint8_t *p = row + sb * 210;
        const __m512 scales = _mm512_mul_ps(
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 192)))),
            _mm512_set1_ps(half_to_float(p + 208)));
        __m512 scale[4];
        for (int t = 0; t < nt; t++) {
            const __m512 dx = _mm512_permutexvar_ps(block_of_sub, _mm512_castps256_ps512(_mm256_loadu_ps(xd[t] + sb * 8)));
            scale[t] = _mm512_mul_ps(scales, dx);
            const __m512 sums = _mm512_cvtepi32_ps(
                _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(xsum[t] + sb * 16))));
            oacc[t] = _mm512_fmadd_ps(scale[t], sums, oacc[t]);
        }
        for (int h = 0; h < 2; h++) {
            const __m512i low = _mm512_loadu_si512((const void *)(p + 64 * h));
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h)));
            __m512i w[2];
            w[0] = _mm512_or_si512(
                _mm512_and_si512(low, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shift_lo), m2));
            w[1] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(low, 4), m4), _mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), m2));
            for (int i = 0; i < 2; i++) {
                const int pair = 2 * h + i;  // values 64·pair ..< 64·pair + 64 of the super-block
                const __m512i lanes = _mm512_add_epi32(sub_lanes, _mm512_set1_epi32(4 * pair));
                for (int t = 0; t < nt; t++) {
                    const __m512i x = _mm512_loadu_si512((const void *)(xq[t] + sb * 256 + 64 * pair));
                    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[i], x);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(lanes, scale[t]), acc[t]);
                }
            }
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum512(acc[t]) - 32 * hsum512(oacc[t]);
}

// MARK: Driver

INLINE void rows_any(
    const uint32_t type, const int nt, const uint8_t *row, const kiln_q8_act *act, int64_t t0, int64_t k,
    float *out) {
    switch (type) {
    case T_Q4_K: rows_q45_k(0, nt, row, act, t0, k, out); break;
    case T_Q5_K: rows_q45_k(1, nt, row, act, t0, k, out); break;
    case T_Q6_K: rows_q6_k(nt, row, act, t0, k, out); break;
    default: rows_block32(type, nt, row, act, t0, k, out); break;
    }
}

/// One format: every row against the tokens in groups of four (then the 1-3 left over).
INLINE void matmul_format(
    const uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, const kiln_q8_act *act,
    int64_t k, int64_t tokens, float *y, int64_t y_stride) {
    float out[4];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        int64_t t = 0;
        for (; t + 4 <= tokens; t += 4) {
            rows_any(type, 4, row, act, t, k, out);
            for (int i = 0; i < 4; i++) y[(t + i) * y_stride + r] = out[i];
        }
        switch (tokens - t) {
        case 3: rows_any(type, 3, row, act, t, k, out); break;
        case 2: rows_any(type, 2, row, act, t, k, out); break;
        case 1: rows_any(type, 1, row, act, t, k, out); break;
        default: break;
        }
        for (int i = 0; i < tokens - t; i++) y[(t + i) * y_stride + r] = out[i];
    }
}

TARGET void kiln_matmul_q8_avx512(
    uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    switch (type) {
    case T_Q4_0: matmul_format(T_Q4_0, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q4_1: matmul_format(T_Q4_1, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q5_0: matmul_format(T_Q5_0, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q5_1: matmul_format(T_Q5_1, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q8_0: matmul_format(T_Q8_0, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q4_K: matmul_format(T_Q4_K, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q5_K: matmul_format(T_Q5_K, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q6_K: matmul_format(T_Q6_K, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    default: break;
    }
}

#endif
