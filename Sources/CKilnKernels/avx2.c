// AVX2 kernels for CPUs without AVX-512 VNNI: weights in ggml's block layout against 8-bit activations, one
// 32-value block at a time. `vpmaddubsw` multiplies the unsigned weight quants with the signed activations into
// 16-bit pair sums (no overflow: quants are at most 63 here, or |q| ≤ 127 for Q8_0 with the sign moved onto x),
// `vpmaddwd` widens them to 8 int32 lanes, and a float FMA applies the block's d_w·d_x (per lane, so Q6_K's two
// 16-value sub-blocks keep their own scales). Offsets are added per block through the activation sums.
#if defined(__x86_64__)

#include "internal.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// 16 nibble bytes → 32 values: low nibbles first, then high nibbles.
INLINE __m256i nibbles(const uint8_t *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    const __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/// Bits of a 32-bit mask spread to bytes: 0x10 where set.
INLINE __m256i fifth_bits(uint32_t bits) {
    const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuffle);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, select), select);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

/// 8 int32 partial sums of w (unsigned bytes) · x (signed bytes).
INLINE __m256i dot32(__m256i w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}

static TARGET float row_dot(uint32_t type, const uint8_t *row, const kiln_q8_act *a, int64_t t, int64_t k) {
    const int64_t nb = k / 32;
    const int8_t *xq = a->qs + t * k;
    const float *xd = a->d + t * nb, *xs = a->s + t * nb;
    const int16_t *xsum = a->sums + t * (k / 16);
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    for (int64_t b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + b * 32));
        __m256i w;
        __m256 scale;
        switch (type) {
        case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1: {
            const int bytes = type == T_Q4_0 ? 18 : type == T_Q4_1 ? 20 : type == T_Q5_0 ? 22 : 24;
            const uint8_t *p = row + b * bytes;
            const float d = _cvtsh_ss(kiln_load_u16(p));
            const int qo = type == T_Q4_0 ? 2 : type == T_Q4_1 ? 4 : type == T_Q5_0 ? 6 : 8;
            w = nibbles(p + qo);
            if (type == T_Q5_0) w = _mm256_or_si256(w, fifth_bits(kiln_load_u32(p + 2)));
            if (type == T_Q5_1) w = _mm256_or_si256(w, fifth_bits(kiln_load_u32(p + 4)));
            const float m = (type == T_Q4_1 || type == T_Q5_1) ? _cvtsh_ss(kiln_load_u16(p + 2))
                            : type == T_Q4_0                    ? -8 * d
                                                                : -16 * d;
            offset += m * xs[b];
            scale = _mm256_set1_ps(d * xd[b]);
            break;
        }
        case T_Q8_0: {
            const uint8_t *p = row + b * 34;
            const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 2));
            w = _mm256_sign_epi8(q, q);
            x = _mm256_sign_epi8(x, q);
            scale = _mm256_set1_ps(_cvtsh_ss(kiln_load_u16(p)) * xd[b]);
            break;
        }
        case T_Q4_K: case T_Q5_K: {
            const int five = type == T_Q5_K;
            const int64_t sb = b / 8, j = b % 8;
            const uint8_t *p = row + sb * (five ? 176 : 144);
            uint64_t sc, mn;
            kiln_k_scales(p + 4, &sc, &mn);
            const uint8_t *qs = p + (five ? 48 : 16) + 32 * (j / 2);
            const __m256i v = _mm256_loadu_si256((const __m256i *)qs);
            w = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0f));
            if (five) {
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
                const __m256i bit = _mm256_set1_epi8((char)(1 << j));
                w = _mm256_or_si256(
                    w, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(16)));
            }
            const float d = _cvtsh_ss(kiln_load_u16(p)), dmin = _cvtsh_ss(kiln_load_u16(p + 2));
            scale = _mm256_set1_ps(d * (float)((sc >> (8 * j)) & 0xff) * xd[b]);
            offset -= dmin * (float)((mn >> (8 * j)) & 0xff) * xs[b];
            break;
        }
        default: {  // T_Q6_K: 32 values = sub-blocks 2j and 2j+1 of 16
            const int64_t sb = b / 8, j = b % 8;
            const uint8_t *p = row + sb * 210;
            const int h = (int)(j / 4), c = (int)(j % 4);  // half and 32-value quarter of the half
            const __m256i ql = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32 * (c % 2)));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
            const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
            const __m256i lo = _mm256_and_si256(c >= 2 ? _mm256_srli_epi16(ql, 4) : ql, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m2);
            w = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            const int8_t *scales = (const int8_t *)(p + 192);
            const float d = _cvtsh_ss(kiln_load_u16(p + 208)) * xd[b];
            const float s0 = d * scales[2 * j], s1 = d * scales[2 * j + 1];
            scale = _mm256_set_m128(_mm_set1_ps(s1), _mm_set1_ps(s0));
            offset -= 32 * (s0 * xsum[2 * b] + s1 * xsum[2 * b + 1]);
            break;
        }
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32(w, x)), scale, acc);
    }
    return hsum8(acc) + offset;
}

TARGET void kiln_matmul_q8_avx2(
    uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < tokens; t++) y[t * y_stride + r] = row_dot(type, w + (size_t)r * row_bytes, &act, t, k);
}

#endif
