// AVX-512 VNNI + GFNI kernels for packed Q5_0 and Q5_1 (layout in pack.c): the 32-value block kernels of
// packed_avx512.c with the fifth bits read from one bit plane per group instead of eight 64-bit masks.
//
// Why: with masks, every 64 quants cost a mask load and a masked add besides the nibble unpacking, which made Q5_0
// decode compute-bound at about 35 G weights/s from L2 on one core (Q4_0: 44). Byte p of the plane holds the fifth
// bits of the group's 8 steps at byte p (bit s: step s), so one load brings a group's fifth bits, and one
// gf2p8affineqb (an 8×8 bit matrix applied to every byte) moves step s's bit to bit 4 with the other bits cleared;
// a ternary-logic op merges it with the low nibble. The high nibble is one more gf2p8affineqb ((v >> 4) & 15 per
// byte) instead of a shift and a mask. Whole groups load without masks. Decode (one token) runs one row at a time
// straight into y. Measured from L2 on one core (C harness, Qwen2.5's shapes): 896×896 22.4 → 14.5 µs, 896×4864
// 89 → 61 µs; Gemma 3's 1024×640 24 → 14 µs.
//
// The float operations per (row, token) are those of packed_avx512.c's block kernels, the same for any rows and
// tokens sharing a call, so outputs stay batch-invariant.
#if defined(__x86_64__)

#include "internal.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c,gfni")))
#define INLINE static inline __attribute__((always_inline)) TARGET

/// The lane sum of packed_avx512.c's hsum1: (v0+v2)+(v1+v3) within each 128-bit block, then (B0+B1)+(B2+B3).
INLINE float q5_hsum1(__m512 a) {
    __m512 u = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
    u = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(2, 3, 0, 1)));
    u = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtss_f32(_mm_add_ss(_mm512_castps512_ps128(u), _mm512_extractf32x4_ps(u, 2)));
}

/// [Σa0, Σa1, Σa2, Σa3] with q5_hsum1's order for each.
INLINE __m128 q5_hsum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 u01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    const __m512 u23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    const __m512 w = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u01), _mm512_castps_pd(u23))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u01), _mm512_castps_pd(u23))));
    const __m512 e = _mm512_add_ps(w, _mm512_shuffle_f32x4(w, w, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_add_ps(_mm512_castps512_ps128(e), _mm512_extractf32x4_ps(e, 2));
}

/// out[r * 4 + t] = the lane sum of acc[r][t].
INLINE void q5_lane_sums(const int nr, const int nt, __m512 acc[2][4], float *out) {
    for (int r = 0; r < nr; r++) {
        if (nt == 1) {
            out[r * 4] = q5_hsum1(acc[r][0]);
        } else {
            const __m512 z = _mm512_setzero_ps();
            float s[4];
            _mm_storeu_ps(s, q5_hsum4(acc[r][0], acc[r][1], nt > 2 ? acc[r][2] : z, nt > 3 ? acc[r][3] : z));
            for (int t = 0; t < nt; t++) out[r * 4 + t] = s[t];
        }
    }
}

/// gf2p8affineqb matrices (result bit i = parity(matrix byte 7 - i & x)): step s's fifth bit to bit 4, and the
/// high nibble to the low one.
#define Q5_PICK(s) ((int64_t)1 << (24 + (s)))
#define Q5_SHR4 ((int64_t)0x1020408000000000)

/// The quants of steps 2j (lo) and 2j + 1 (hi) from nibble vector v and plane h, as unsigned bytes 0...31.
#define Q5_STEPS(W, v, h, j, lo, hi)                                                                              \
    do {                                                                                                          \
        lo = _mm##W##_ternarylogic_epi32(                                                                         \
            v, _mm##W##_gf2p8affine_epi64_epi8(h, _mm##W##_set1_epi64x(Q5_PICK(2 * (j))), 0),                     \
            _mm##W##_set1_epi8(0x0f), 0xEC); /* (v & 0x0f) | bit */                                               \
        hi = _mm##W##_or_si##W(                                                                                   \
            _mm##W##_gf2p8affine_epi64_epi8(v, _mm##W##_set1_epi64x(Q5_SHR4), 0),                                 \
            _mm##W##_gf2p8affine_epi64_epi8(h, _mm##W##_set1_epi64x(Q5_PICK(2 * (j) + 1)), 0));                   \
    } while (0)
#define _mm512_set1_epi64x _mm512_set1_epi64

/// acc[r][t] += the group's integer products ia (+ ib when `split`) scaled by d_w·d_x per lane, with Q5_0's offset
/// of 16 taken off the integers (16 · Σ q_x from the activations' block sums, exact) or Q5_1's m_w·s_x added.
INLINE void q5_scale(
    const int has_m, const int whole, const int nr, const int nt, const int n, const int split, const __m512 *dv,
    const __m512 *mv, const int8_t *const *xg, __m512i ia[2][4], __m512i ib[2][4], __m512 acc[2][4]) {
    const __mmask16 lm = whole ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    for (int t = 0; t < nt; t++) {
        const __m512 xdv = whole ? _mm512_loadu_ps(xg[t] + KILN_Q8_GROUP_D(n)) : _mm512_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_D(n));
        if (has_m) {
            const __m512 xsv = _mm512_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_S(n));
            for (int r = 0; r < nr; r++) {
                const __m512i sum = split ? _mm512_add_epi32(ia[r][t], ib[r][t]) : ia[r][t];
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dv[r], xdv), acc[r][t]);
                acc[r][t] = _mm512_fmadd_ps(mv[r], xsv, acc[r][t]);
            }
        } else {
            const __m512i off = _mm512_slli_epi32(
                whole ? _mm512_loadu_si512((const void *)(xg[t] + KILN_Q8_GROUP_SUMS(n))) : _mm512_maskz_loadu_epi32(lm, xg[t] + KILN_Q8_GROUP_SUMS(n)),
                4);
            for (int r = 0; r < nr; r++) {
                __m512i sum = split ? _mm512_add_epi32(ia[r][t], ib[r][t]) : ia[r][t];
                sum = _mm512_sub_epi32(sum, off);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dv[r], xdv), acc[r][t]);
            }
        }
    }
}

/// One 512-bit group of n lanes (`whole`: n = 16, loads without masks) for `nr` rows at p[] (advanced past the
/// group) against `nt` tokens: acc[r][t] += the group's 16 lanes of w·x. Q5_0's offset of 16 comes off the integer
/// products (16 · Σ q_x from the activations' block sums, exact); Q5_1's m · s_x takes an FMA.
INLINE void q5_group(
    const int has_m, const int whole, const int nr, const int nt, const int n, const uint8_t **p,
    const int8_t *const *xg, __m512 acc[2][4]) {
    const __mmask16 lm = whole ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    const __mmask64 bm = whole ? ~(__mmask64)0 : (((__mmask64)1 << (4 * n)) - 1);
    const int sv = whole ? 64 : 4 * n;
#define Q5_LD(ptr) (whole ? _mm512_loadu_si512((const void *)(ptr)) : _mm512_maskz_loadu_epi8(bm, (ptr)))
    // Few products per step: a second integer chain per output hides the vpdpbusd latency.
    const int split = nr * nt <= 4;
    __m512 dv[2], mv[2];
    __m512i hb[2];
    const uint8_t *q[2];
    for (int r = 0; r < nr; r++) {
        dv[r] = _mm512_cvtph_ps(
            whole ? _mm256_loadu_si256((const __m256i *)p[r]) : _mm256_maskz_loadu_epi16(lm, p[r]));
        if (has_m) mv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lm, p[r] + 2 * n));
        q[r] = p[r] + (has_m ? 4 : 2) * n;
        hb[r] = Q5_LD(q[r] + 16 * n);
        p[r] = q[r] + 20 * n;
    }
    __m512i ia[2][4], ib[2][4];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) ia[r][t] = ib[r][t] = _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        __m512i lo[2], hi[2];
        for (int r = 0; r < nr; r++) {
            const __m512i v = Q5_LD(q[r] + j * sv);
            Q5_STEPS(512, v, hb[r], j, lo[r], hi[r]);
        }
        for (int t = 0; t < nt; t++) {
            const __m512i xl = Q5_LD(xg[t] + (2 * j) * sv), xh = Q5_LD(xg[t] + (2 * j + 1) * sv);
            for (int r = 0; r < nr; r++) {
                ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], lo[r], xl);
                if (split) ib[r][t] = _mm512_dpbusd_epi32(ib[r][t], hi[r], xh);
                else ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], hi[r], xh);
            }
        }
    }
#undef Q5_LD
    q5_scale(has_m, whole, nr, nt, n, split, dv, mv, xg, ia, ib, acc);
}

/// The last group of a row when it holds n ≤ 8 blocks (k = 640 ends in 4): the same arithmetic on 256-bit vectors,
/// lanes ≥ 8 of acc untouched (a 512-bit group would only add zeros there).
INLINE void q5_short_group(
    const int has_m, const int nr, const int nt, const int n, const uint8_t *const *p, const int8_t *const *xg,
    __m512 acc[2][4]) {
    const __mmask8 lm = (__mmask8)((1u << n) - 1);
    const __mmask32 bm = n == 8 ? ~(__mmask32)0 : (__mmask32)((1u << (4 * n)) - 1);
    const int sv = 4 * n;
    __m256 dv[2], mv[2];
    __m256i hb[2];
    const uint8_t *q[2];
    for (int r = 0; r < nr; r++) {
        dv[r] = _mm256_cvtph_ps(_mm_maskz_loadu_epi16(lm, p[r]));
        if (has_m) mv[r] = _mm256_cvtph_ps(_mm_maskz_loadu_epi16(lm, p[r] + 2 * n));
        q[r] = p[r] + (has_m ? 4 : 2) * n;
        hb[r] = _mm256_maskz_loadu_epi8(bm, q[r] + 16 * n);
    }
    __m256i ia[2][4], ib[2][4];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) ia[r][t] = ib[r][t] = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        __m256i lo[2], hi[2];
        for (int r = 0; r < nr; r++) {
            const __m256i v = _mm256_maskz_loadu_epi8(bm, q[r] + j * sv);
            Q5_STEPS(256, v, hb[r], j, lo[r], hi[r]);
        }
        for (int t = 0; t < nt; t++) {
            const __m256i xl = _mm256_maskz_loadu_epi8(bm, xg[t] + (2 * j) * sv);
            const __m256i xh = _mm256_maskz_loadu_epi8(bm, xg[t] + (2 * j + 1) * sv);
            for (int r = 0; r < nr; r++) {
                ia[r][t] = _mm256_dpbusd_epi32(ia[r][t], lo[r], xl);
                ib[r][t] = _mm256_dpbusd_epi32(ib[r][t], hi[r], xh);
            }
        }
    }
    for (int t = 0; t < nt; t++) {
        const __m256 xdv = _mm256_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_D(n)), xsv = _mm256_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_S(n));
        const __m256i off = _mm256_slli_epi32(_mm256_maskz_loadu_epi32(lm, xg[t] + KILN_Q8_GROUP_SUMS(n)), 4);
        for (int r = 0; r < nr; r++) {
            __m256 a = _mm512_castps512_ps256(acc[r][t]);
            __m256i sum = _mm256_add_epi32(ia[r][t], ib[r][t]);
            if (!has_m) sum = _mm256_sub_epi32(sum, off);
            a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dv[r], xdv), a);
            if (has_m) a = _mm256_fmadd_ps(mv[r], xsv, a);
            acc[r][t] = _mm512_mask_mov_ps(acc[r][t], 0x00ff, _mm512_castps256_ps512(a));
        }
    }
}

/// `nr` rows (1 or 2, at rows[0], rows[1]) against tokens t0 ..< t0 + nt: out[r * 4 + t].
INLINE void q5_rows(
    const int has_m, const int nr, const int nt, const uint8_t *const *rows, const kiln_q8_act *a, int64_t t0,
    int64_t k, float *out) {
    const int64_t nb = k / 32;
    const uint8_t *p[2] = {rows[0], nr > 1 ? rows[1] : rows[0]};
    const int8_t *xg[4];  // each token's current group in a->groups
    __m512 acc[2][4];
    for (int t = 0; t < nt; t++) {
        xg[t] = a->groups + (t0 + t) * kiln_q8_groups_stride(k);
        for (int r = 0; r < nr; r++) acc[r][t] = _mm512_setzero_ps();
    }
    const int64_t whole = nb / 16;
    for (int64_t g = 0; g < whole; g++) {
        q5_group(has_m, 1, nr, nt, 16, p, xg, acc);
        for (int t = 0; t < nt; t++) xg[t] += KILN_Q8_GROUP_BYTES;
    }
    const int n = (int)(nb % 16);
    if (n > 8) q5_group(has_m, 0, nr, nt, n, p, xg, acc);
    else if (n > 0) q5_short_group(has_m, nr, nt, n, p, xg, acc);
    q5_lane_sums(nr, nt, acc, out);
}

/// Bytes of a row's unpacked group in the batch path: d_w (16 floats), m_w (16 floats), then the quants of the 8
/// steps as 64-byte vectors (zeros past a short group's 4n bytes).
#define Q5_UNPACKED_GROUP 640
/// Groups a row may have for the batch path (k ≤ 8192); longer rows unpack in every call.
#define Q5_UNPACKED_MAX 16

/// Unpacks the groups of more than 8 blocks of one packed row at p (all whole groups, and a last one of 9-15) into
/// `out`, each as Q5_STEPS makes it in q5_group; returns where the row's short last group (≤ 8 blocks) starts.
INLINE const uint8_t *q5_unpack_row(const int has_m, const uint8_t *p, const int64_t nb, uint8_t *out) {
    for (int64_t g = 0; 16 * g < nb && nb - 16 * g > 8; g++, out += Q5_UNPACKED_GROUP) {
        const int n = nb - 16 * g < 16 ? (int)(nb - 16 * g) : 16;
        const __mmask16 lm = (__mmask16)((1u << n) - 1);
        const __mmask64 bm = n == 16 ? ~(__mmask64)0 : (((__mmask64)1 << (4 * n)) - 1);
        _mm512_store_ps((float *)out, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lm, p)));
        if (has_m) _mm512_store_ps((float *)(out + 64), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lm, p + 2 * n)));
        const uint8_t *q = p + (has_m ? 4 : 2) * n;
        const __m512i h = _mm512_maskz_loadu_epi8(bm, q + 16 * n);
        for (int j = 0; j < 4; j++) {
            __m512i lo, hi;
            const __m512i v = _mm512_maskz_loadu_epi8(bm, q + j * 4 * n);
            Q5_STEPS(512, v, h, j, lo, hi);
            _mm512_store_si512((void *)(out + 128 + 64 * (2 * j)), lo);
            _mm512_store_si512((void *)(out + 128 + 64 * (2 * j + 1)), hi);
        }
        p = q + 20 * n;
    }
    return p;
}

/// q5_group on unpacked rows u[] (q5_unpack_row's groups): the same integer products and the same float operations
/// per (row, token), without the unpacking, which the tiles of a row pair then share.
INLINE void q5_unpacked_group(
    const int has_m, const int whole, const int nr, const int nt, const int n, const uint8_t *const *u,
    const int8_t *const *xg, __m512 acc[2][4]) {
    const int sv = whole ? 64 : 4 * n;
    const int split = nr * nt <= 4;
    __m512i ia[2][4], ib[2][4];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) ia[r][t] = ib[r][t] = _mm512_setzero_si512();
    for (int i = 0; i < 8; i++) {
        __m512i w[2];
        for (int r = 0; r < nr; r++) w[r] = _mm512_load_si512((const void *)(u[r] + 128 + 64 * i));
        for (int t = 0; t < nt; t++) {
            // A partial group's quants end 4n bytes into each 64: the weights there are zero, so the bytes read
            // past them (the next step's, or the group's scales: at most 7·4n + 64 ≤ 44n bytes in for n > 8) add
            // nothing, and the load needs no mask.
            const __m512i x = _mm512_loadu_si512((const void *)(xg[t] + i * sv));
            for (int r = 0; r < nr; r++) {
                if (split && (i & 1)) ib[r][t] = _mm512_dpbusd_epi32(ib[r][t], w[r], x);
                else ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], w[r], x);
            }
        }
    }
    __m512 dv[2], mv[2];
    for (int r = 0; r < nr; r++) {
        dv[r] = _mm512_load_ps((const float *)u[r]);
        if (has_m) mv[r] = _mm512_load_ps((const float *)(u[r] + 64));
    }
    q5_scale(has_m, whole, nr, nt, n, split, dv, mv, xg, ia, ib, acc);
}

/// q5_rows for a row pair unpacked once (u[r], and the packed short last groups at rest[r]): out[r * 4 + t].
INLINE void q5_unpacked_rows(
    const int has_m, const int nr, const int nt, const uint8_t *const *u, const uint8_t *const *rest,
    const kiln_q8_act *a, int64_t t0, int64_t k, float *out) {
    const int64_t nb = k / 32;
    const int8_t *xg[4];
    __m512 acc[2][4];
    for (int t = 0; t < nt; t++) {
        xg[t] = a->groups + (t0 + t) * kiln_q8_groups_stride(k);
        for (int r = 0; r < nr; r++) acc[r][t] = _mm512_setzero_ps();
    }
    const uint8_t *ug[2] = {u[0], u[nr - 1]};
    for (int64_t g = 0; g < nb / 16; g++) {
        q5_unpacked_group(has_m, 1, nr, nt, 16, ug, xg, acc);
        for (int r = 0; r < nr; r++) ug[r] += Q5_UNPACKED_GROUP;
        for (int t = 0; t < nt; t++) xg[t] += KILN_Q8_GROUP_BYTES;
    }
    const int n = (int)(nb % 16);
    if (n > 8) q5_unpacked_group(has_m, 0, nr, nt, n, ug, xg, acc);
    else if (n > 0) q5_short_group(has_m, nr, nt, n, rest, xg, acc);
    q5_lane_sums(nr, nt, acc, out);
}

/// Rows r0 ..< r1 against every token, as packed_avx512.c's packed_format: one row at a time straight into y for
/// one token (decode), otherwise row pairs and four-token tiles whose activations fit in L1.
INLINE void q5_format(
    const int has_m, const uint8_t *w, int64_t row_bytes, int64_t r0, int64_t r1, const kiln_q8_act *a, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    float out[8];
    if (tokens == 1) {
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = w + r * row_bytes;
            q5_rows(has_m, 1, 1, &row, a, 0, k, out);
            y[r] = out[0];
        }
        return;
    }
    // Batches of more than four tokens: each row pair is unpacked once per token tile into an L1 scratch, and its
    // 4-token calls run on the unpacked quants. The fifth-bit merge (GFNI and ternary logic, on the pipes that also
    // run vpdpbusd) then costs once per pair and tile instead of once per 4 tokens: 4864×896 at 16-64 tokens
    // 105-108 → 112-117 GMAC/s on one thread, 8 tokens unchanged (C harness); Qwen2.5's pp256 +6 %. The
    // per-(row, token) arithmetic is q5_rows's, so outputs are unchanged.
    if (tokens > 4 && k / 512 + (k / 32 % 16 > 8) <= Q5_UNPACKED_MAX) {
        _Alignas(64) uint8_t scratch[2][Q5_UNPACKED_MAX * Q5_UNPACKED_GROUP];
        const uint8_t *const u[2] = {scratch[0], scratch[1]};
        const uint8_t *short_at[2];
#define PREPARE(rows, nr)                                                                                              \
    do {                                                                                                               \
        for (int i_ = 0; i_ < (nr); i_++) short_at[i_] = q5_unpack_row(has_m, (rows)[i_], k / 32, scratch[i_]);      \
        if ((nr) == 1) short_at[1] = short_at[0];                                                                      \
    } while (0)
#define KERNEL(nr, nt, rows, t) q5_unpacked_rows(has_m, nr, nt, u, short_at, a, t, k, out)
        KILN_PACKED_TILES_PREPARED(KERNEL, 1, PREPARE);
#undef KERNEL
#undef PREPARE
        return;
    }
#define KERNEL(nr, nt, rows, t) q5_rows(has_m, nr, nt, rows, a, t, k, out)
    KILN_PACKED_TILES(KERNEL, 1);
#undef KERNEL
}

TARGET void kiln_matmul_packed_q5_avx512(
    uint32_t type, const uint8_t *w, int64_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    if (type == T_Q5_0) q5_format(0, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride);
    else if (type == T_Q5_1) q5_format(1, w, row_bytes, r0, r1, &act, k, tokens, y, y_stride);
}

#endif
