// AVX-512 VNNI kernels over packed weights (layout in pack.c) and interleaved 8-bit activations. Q5_0 and Q5_1,
// whose fifth bits are stored as a bit plane, have their own kernels in packed_q5_avx512.c.
//
// Lane L of every `vpdpbusd` accumulates block L of a group, so a group of up to 16 blocks costs its 8 integer
// products (4 for Q6_K), one int→float convert and one FMA with the 16 block scales d_w·d_x. Fixed offsets (Q4_0's
// 8, Q8_0's 128 of its biased quants) come off the integer products (offset · Σ q_x, exact); scaled ones (Q4_1's m,
// K-quant mins, Q6_K's -32) cost one more FMA per group against the activation block sums. Whole groups of 16
// blocks load without masks (masked byte loads measured ~2× slower on Zen 4). One call handles 1-4 tokens per
// row: during prefill each group is unpacked once for up to four tokens, and rows go two at a time so that each
// activation load feeds two products; a single row (decode) takes the same code with one row. A 32-value block
// format's last group of 2 or 4 blocks (k = 576 ends in 2, k = 640 in 4) packs its quants into whole 512-bit
// vectors (tail_block32); other last groups of at most 8 blocks run on 256-bit vectors, half the cost of a mostly
// empty 512-bit group. A token's activations for a group (quants, d, s and block sums) lie together in
// kiln_q8_act.groups, so a 2×4 tile holds six pointers, not eighteen: with one per array and token, the pointers
// were spilled to the stack inside the group loops, and any edit could move the spills (Q8_0 lost 25-50 % so).
// Every (row, token) result is computed by the same float operations in the same order whichever rows and tokens
// share its call (the lane sums too: hsum1 and hsum4 add in one order), so outputs are batch-invariant.
#if defined(__x86_64__)

#include "internal.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float hsum(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// The 32-value block kernels' lane sum, the same order for every output: (v0+v2)+(v1+v3) within each 128-bit
/// block, then (B0+B1)+(B2+B3). hsum4 gives four sums in one pass (an output takes the same additions in either).
INLINE float hsum1(__m512 a) {
    __m512 u = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
    u = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(2, 3, 0, 1)));
    u = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtss_f32(_mm_add_ss(_mm512_castps512_ps128(u), _mm512_extractf32x4_ps(u, 2)));
}

/// [Σa0, Σa1, Σa2, Σa3] with hsum1's order for each.
INLINE __m128 hsum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 u01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    const __m512 u23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    const __m512 w = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u01), _mm512_castps_pd(u23))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u01), _mm512_castps_pd(u23))));
    const __m512 e = _mm512_add_ps(w, _mm512_shuffle_f32x4(w, w, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_add_ps(_mm512_castps512_ps128(e), _mm512_extractf32x4_ps(e, 2));
}

/// out[0 ..< nt] = the lane sums of acc[0 ..< nt] (nt ≤ 4).
INLINE void lane_sums(const int nt, const __m512 *acc, float *out) {
    if (nt == 1) {
        out[0] = hsum1(acc[0]);
        return;
    }
    const __m512 z = _mm512_setzero_ps();
    const __m128 s = hsum4(acc[0], acc[1], nt > 2 ? acc[2] : z, nt > 3 ? acc[3] : z);
    if (nt == 4) {
        _mm_storeu_ps(out, s);
    } else {
        float tmp[4];
        _mm_storeu_ps(tmp, s);
        for (int t = 0; t < nt; t++) out[t] = tmp[t];
    }
}

INLINE __mmask64 load_mask(const uint8_t *p) {
    uint64_t m;
    memcpy(&m, p, 8);
    return (__mmask64)m;
}

/// The nibble steps of one group for `nr` rows (1 or 2, at p[0], p[1]) against `nt` tokens: each row's four
/// vectors of 4n bytes are unpacked once (plus their fifth bits, stored 16n bytes in, when `five`) and every
/// activation load feeds both rows. ia (and ib when `split`, a second chain hiding the vpdpbusd latency) receive
/// the 16 lanes' integer dot products. Used by Q4_K/Q5_K (the 32-value formats have block32_group).
INLINE void nibble_rows(
    const int nr, const int nt, const uint8_t *const *p, const int five, const int n, const int sv, __mmask64 bm,
    const int8_t *const *xg, const int split, __m512i ia[2][4], __m512i ib[2][4]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
        for (int j = 0; j < 4; j++) {
            __m512i lo[2], hi[2];
            for (int r = 0; r < nr; r++) {
                const __m512i v = _mm512_maskz_loadu_epi8(bm, p[r] + j * sv);
                lo[r] = _mm512_and_si512(v, m4);
                hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                if (five) {
                    const uint8_t *masks = p[r] + 16 * n;
                    lo[r] = _mm512_mask_add_epi8(lo[r], load_mask(masks + 16 * j), lo[r], sixteen);
                    hi[r] = _mm512_mask_add_epi8(hi[r], load_mask(masks + 16 * j + 8), hi[r], sixteen);
                }
            }
            for (int t = 0; t < nt; t++) {
                const __m512i xl = _mm512_maskz_loadu_epi8(bm, xg[t] + (2 * j) * sv);
                const __m512i xh = _mm512_maskz_loadu_epi8(bm, xg[t] + (2 * j + 1) * sv);
                for (int r = 0; r < nr; r++) {
                    ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], lo[r], xl);
                    if (split) ib[r][t] = _mm512_dpbusd_epi32(ib[r][t], hi[r], xh);
                    else ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], hi[r], xh);
                }
            }
        }
}

/// The last group of a row when it holds n ≤ 8 blocks (other than 2 or 4): the arithmetic of a full group on
/// 256-bit vectors, which cost half as much as 512-bit ones on Zen 4 and hold all n lanes. Every lane takes the same
/// operations as in a 512-bit group (whose lanes ≥ n only add zeros), so results are bit-identical to it.
INLINE void short_group(
    const uint32_t type, const int nr, const int nt, const int n, const uint8_t *const *p, const int8_t *const *xg,
    __m512 acc[2][4]) {
    const int has_m = type == T_Q4_1;
    const __mmask8 lm = (__mmask8)((1u << n) - 1);
    const __mmask32 bm = n == 8 ? ~(__mmask32)0 : (__mmask32)((1u << (4 * n)) - 1);
    const int sv = 4 * n;
    const uint8_t *q[2];
    __m256 dv[2], mv[2];
    for (int r = 0; r < nr; r++) {
        q[r] = p[r];
        dv[r] = _mm256_cvtph_ps(_mm_maskz_loadu_epi16(lm, q[r]));
        q[r] += 2 * n;
        if (has_m) {
            mv[r] = _mm256_cvtph_ps(_mm_maskz_loadu_epi16(lm, q[r]));
            q[r] += 2 * n;
        } else {
            mv[r] = _mm256_mul_ps(dv[r], _mm256_set1_ps(type == T_Q4_0 ? -8.0f : -128.0f));
        }
    }
    // Two integer chains per output (exact sums: the order changes nothing) hide the vpdpbusd latency.
    __m256i ia[2][4], ib[2][4];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) ia[r][t] = ib[r][t] = _mm256_setzero_si256();
    if (type == T_Q8_0) {
        for (int i = 0; i < 8; i++) {
            __m256i w[2];
            for (int r = 0; r < nr; r++) w[r] = _mm256_maskz_loadu_epi8(bm, q[r] + i * sv);
            for (int t = 0; t < nt; t++) {
                const __m256i x = _mm256_maskz_loadu_epi8(bm, xg[t] + i * sv);
                for (int r = 0; r < nr; r++) {
                    if (i & 1) ib[r][t] = _mm256_dpbusd_epi32(ib[r][t], w[r], x);
                    else ia[r][t] = _mm256_dpbusd_epi32(ia[r][t], w[r], x);
                }
            }
        }
    } else {
        const __m256i m4 = _mm256_set1_epi8(0x0f);
        for (int j = 0; j < 4; j++) {
            __m256i lo[2], hi[2];
            for (int r = 0; r < nr; r++) {
                const __m256i v = _mm256_maskz_loadu_epi8(bm, q[r] + j * sv);
                lo[r] = _mm256_and_si256(v, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
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
    }
    for (int t = 0; t < nt; t++) {
        const __m256 xdv = _mm256_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_D(n)), xsv = _mm256_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_S(n));
        for (int r = 0; r < nr; r++) {
            __m256 a = _mm512_castps512_ps256(acc[r][t]);
            a = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(_mm256_add_epi32(ia[r][t], ib[r][t])), _mm256_mul_ps(dv[r], xdv), a);
            a = _mm256_fmadd_ps(mv[r], xsv, a);
            acc[r][t] = _mm512_mask_mov_ps(acc[r][t], 0x00ff, _mm512_castps256_ps512(a));
        }
    }
}

/// The last group of a row when it holds n = 2 or 4 blocks (k = 576 ends in 2, k = 640 in 4): acc[r][t] += its
/// blocks' terms. The group's 32n quants fill n / 2 whole 512-bit vectors (a nibble format's low and high nibbles pair
/// with the activations' even and odd steps, gathered by one permutation per token), so a (row, token) slot costs
/// n / 2 integer products, not short_group's eight mostly empty ones. Lane L of a slot's products holds four quants
/// of block L % n: it is scaled by d_w·d_x of that block (a repeating lane pattern) and added to the slot's float
/// accumulator, whose lanes are summed at the end with the row's whole groups. The offsets (Q4_1's m_w·s_x, Q4_0's
/// and Q8_0's fixed ones off the integer products) go into lanes 0 ..< n. Every slot's operations are the same
/// whichever slots are filled, so each (row, token) value is batch-invariant.
INLINE void tail_block32(
    const uint32_t type, const int nr, const int nt, const int n, const uint8_t *const *p, const int8_t *const *xg,
    __m512 acc[2][4]) {
    const int has_m = type == T_Q4_1;
    const int shift = type == T_Q4_0 ? 3 : 7;
    const __mmask16 lm = (__mmask16)((1u << n) - 1);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i w[2][2];
    __m512 dw[2], mw[2];
    for (int r = 0; r < nr; r++) {
        // d_w of lane L's block: n half floats repeated across the 16 lanes.
        const __m256i h = n == 2 ? _mm256_set1_epi32((int)kiln_load_u32(p[r]))
                                 : _mm256_set1_epi64x((long long)kiln_load_u64(p[r]));
        dw[r] = _mm512_cvtph_ps(h);
        if (has_m) mw[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lm, p[r] + 2 * n));
        const uint8_t *q = p[r] + 2 * n * (has_m ? 2 : 1);
        if (type == T_Q8_0) {
            w[r][0] = _mm512_loadu_si512(q);
            if (n == 4) w[r][1] = _mm512_loadu_si512(q + 64);
        } else if (n == 2) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)q);
            w[r][0] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_and_si256(v, _mm256_set1_epi8(0x0f))),
                _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f)), 1);
        } else {
            const __m512i v = _mm512_loadu_si512(q);
            w[r][0] = _mm512_and_si512(v, m4);
            w[r][1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
    }
    for (int t = 0; t < nt; t++) {
        __m512i x[2];
        if (type == T_Q8_0) {
            x[0] = _mm512_loadu_si512(xg[t]);
            if (n == 4) x[1] = _mm512_loadu_si512(xg[t] + 64);
        } else if (n == 2) {
            x[0] = _mm512_permutexvar_epi64(_mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0), _mm512_loadu_si512(xg[t]));
        } else {
            const __m512i a = _mm512_loadu_si512(xg[t]), b = _mm512_loadu_si512(xg[t] + 64);
            x[0] = _mm512_shuffle_i64x2(a, b, 0x88);
            x[1] = _mm512_shuffle_i64x2(a, b, 0xdd);
        }
        const int8_t *xd = xg[t] + KILN_Q8_GROUP_D(n);
        const __m512 dx = n == 2 ? _mm512_castsi512_ps(_mm512_set1_epi64((long long)kiln_load_u64(xd)))
                                 : _mm512_broadcast_f32x4(_mm_loadu_ps((const float *)xd));
        __m512 sx;
        __m512i off;
        // The offsets and sums follow the n scales (KILN_Q8_GROUP_S, KILN_Q8_GROUP_SUMS).
        if (has_m) sx = _mm512_maskz_loadu_ps(lm, xd + 4 * n);
        else off = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(lm, xd + 8 * n), shift);
        for (int r = 0; r < nr; r++) {
            __m512i ia = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[r][0], x[0]);
            if (n == 4) ia = _mm512_dpbusd_epi32(ia, w[r][1], x[1]);
            if (!has_m) ia = _mm512_sub_epi32(ia, off);
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), _mm512_mul_ps(dw[r], dx), acc[r][t]);
            if (has_m) acc[r][t] = _mm512_fmadd_ps(mw[r], sx, acc[r][t]);
        }
    }
}

/// One group of n blocks (`whole`: n = 16, every load without a mask) of Q4_0, Q4_1 or Q8_0 for `nr` rows at p[]
/// (advanced past the group) against `nt` tokens at xg[], xd[], xs[], xi[]: acc[r][t] += the group's 16 lanes.
/// A fixed offset (Q4_0's 8, Q8_0's 128) comes off the integer products, o · Σ q_x from the activations' block sums
/// (exact), so a (row, token) lane costs one multiply and one FMA; Q4_1's m · s_x takes a second FMA.
INLINE void block32_group(
    const uint32_t type, const int whole, const int nr, const int nt, const int n, const int split,
    const uint8_t **p, const int8_t *const *xg, __m512 acc[2][4]) {
    const int has_m = type == T_Q4_1;
    const int shift = type == T_Q4_0 ? 3 : 7;  // the offset 8 or 128 as a shift
    const __mmask16 lm = whole ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    const __mmask64 bm = whole ? ~(__mmask64)0 : (((__mmask64)1 << (4 * n)) - 1);
    const int sv = whole ? 64 : 4 * n;
#define B32_LD(ptr) (whole ? _mm512_loadu_si512((const void *)(ptr)) : _mm512_maskz_loadu_epi8(bm, (ptr)))
#define B32_LDH(ptr) (whole ? _mm256_loadu_si256((const __m256i *)(ptr)) : _mm256_maskz_loadu_epi16(lm, (ptr)))
#define B32_LDF(ptr) (whole ? _mm512_loadu_ps(ptr) : _mm512_maskz_loadu_ps(lm, (ptr)))
#define B32_LDI(ptr) (whole ? _mm512_loadu_si512((const void *)(ptr)) : _mm512_maskz_loadu_epi32(lm, (ptr)))
    __m512 dv[2], mv[2];
    for (int r = 0; r < nr; r++) {
        dv[r] = _mm512_cvtph_ps(B32_LDH(p[r]));
        p[r] += 2 * n;
        if (has_m) {
            mv[r] = _mm512_cvtph_ps(B32_LDH(p[r]));
            p[r] += 2 * n;
        }
    }
    __m512i ia[2][4], ib[2][4];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) ia[r][t] = ib[r][t] = _mm512_setzero_si512();
    if (type == T_Q8_0) {
        for (int i = 0; i < 8; i++) {
            __m512i w[2];
            for (int r = 0; r < nr; r++) w[r] = B32_LD(p[r] + i * sv);
            for (int t = 0; t < nt; t++) {
                const __m512i x = B32_LD(xg[t] + i * sv);
                for (int r = 0; r < nr; r++) {
                    if (split && (i & 1)) ib[r][t] = _mm512_dpbusd_epi32(ib[r][t], w[r], x);
                    else ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], w[r], x);
                }
            }
        }
        for (int r = 0; r < nr; r++) p[r] += 32 * n;
    } else {
        const __m512i m4 = _mm512_set1_epi8(0x0f);
        for (int j = 0; j < 4; j++) {
            __m512i lo[2], hi[2];
            for (int r = 0; r < nr; r++) {
                const __m512i v = B32_LD(p[r] + j * sv);
                lo[r] = _mm512_and_si512(v, m4);
                hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
            for (int t = 0; t < nt; t++) {
                const __m512i xl = B32_LD(xg[t] + (2 * j) * sv), xh = B32_LD(xg[t] + (2 * j + 1) * sv);
                for (int r = 0; r < nr; r++) {
                    ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], lo[r], xl);
                    if (split) ib[r][t] = _mm512_dpbusd_epi32(ib[r][t], hi[r], xh);
                    else ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], hi[r], xh);
                }
            }
        }
        for (int r = 0; r < nr; r++) p[r] += 16 * n;
    }
    for (int t = 0; t < nt; t++) {
        const __m512 xdv = B32_LDF(xg[t] + KILN_Q8_GROUP_D(n));
        if (has_m) {
            const __m512 xsv = B32_LDF(xg[t] + KILN_Q8_GROUP_S(n));
            for (int r = 0; r < nr; r++) {
                const __m512i sum = split ? _mm512_add_epi32(ia[r][t], ib[r][t]) : ia[r][t];
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dv[r], xdv), acc[r][t]);
                acc[r][t] = _mm512_fmadd_ps(mv[r], xsv, acc[r][t]);
            }
        } else {
            const __m512i off = _mm512_slli_epi32(B32_LDI(xg[t] + KILN_Q8_GROUP_SUMS(n)), shift);
            for (int r = 0; r < nr; r++) {
                __m512i sum = split ? _mm512_add_epi32(ia[r][t], ib[r][t]) : ia[r][t];
                sum = _mm512_sub_epi32(sum, off);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dv[r], xdv), acc[r][t]);
            }
        }
    }
#undef B32_LD
#undef B32_LDH
#undef B32_LDF
#undef B32_LDI
}

/// Q4_0, Q4_1, Q8_0: `nr` rows (1 or 2, at p[0], p[1]) against `nt` tokens, out[r * 4 + t]. Two rows
/// share every activation load. Each (row, token) result takes the same float operations in the same order for
/// any nr, nt and t0 (the integer sums are exact in any order), so a token's output does not depend on which
/// rows or tokens share its call: the kernels are batch-invariant.
INLINE void packed_block32(
    const uint32_t type, const int nr, const int nt, const uint8_t *const *rows, const kiln_q8_act *a, int64_t t0,
    int64_t k, float *out) {
    const int64_t nb = k / 32;
    // Few products per step: a second integer chain per output hides the vpdpbusd latency.
    const int split = nr * nt <= 4;
    const uint8_t *p[2] = {rows[0], nr > 1 ? rows[1] : rows[0]};
    const int8_t *xg[4];  // each token's current group in a->groups
    __m512 acc[2][4];
    for (int t = 0; t < nt; t++) {
        xg[t] = a->groups + (t0 + t) * kiln_q8_groups_stride(k);
        for (int r = 0; r < nr; r++) acc[r][t] = _mm512_setzero_ps();
    }
    const int64_t whole = nb / 16;
    for (int64_t g = 0; g < whole; g++) {
        block32_group(type, 1, nr, nt, 16, split, p, xg, acc);
        for (int t = 0; t < nt; t++) xg[t] += KILN_Q8_GROUP_BYTES;
    }
    const int n = (int)(nb % 16);
    if (n > 8) block32_group(type, 0, nr, nt, n, split, p, xg, acc);  // a short last group comes after
    else if (n == 2) tail_block32(type, nr, nt, 2, p, xg, acc);  // constant n: no branches or offsets at run time
    else if (n == 4) tail_block32(type, nr, nt, 4, p, xg, acc);
    else if (n > 0) short_group(type, nr, nt, n, p, xg, acc);
    for (int r = 0; r < nr; r++) lane_sums(nt, acc[r], out + r * 4);
}

/// Q4_K and Q5_K: `nr` rows (1 or 2) against `nt` tokens, out[r * 4 + t]; lanes are 32-value sub-blocks, a group
/// is up to two super-blocks. As in packed_block32, two rows share every activation load, and each (row, token)
/// result takes the same float operations in the same order for any nr, nt and t0.
INLINE void packed_q45_k(
    const int five, const int nr, const int nt, const uint8_t *const *rows, const kiln_q8_act *a, int64_t t0,
    int64_t k, float *out) {
    const int64_t nb = k / 32;
    const int split = nr * nt <= 4;
    const uint8_t *p[2] = {rows[0], nr > 1 ? rows[1] : rows[0]};
    const int8_t *xg[4];  // each token's current group in a->groups (16 sub-blocks of 32, the format's lanes)
    __m512 acc[2][4];
    for (int t = 0; t < nt; t++) {
        xg[t] = a->groups + (t0 + t) * kiln_q8_groups_stride(k);
        for (int r = 0; r < nr; r++) acc[r][t] = _mm512_setzero_ps();
    }
    const __m512i first = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(2));
    for (int64_t g = 0; g < nb; g += 16) {
        const int n = nb - g < 16 ? (int)(nb - g) : 16;
        const __mmask16 lm = (__mmask16)((1u << n) - 1);
        const __mmask64 bm = n == 16 ? ~(__mmask64)0 : (((__mmask64)1 << (4 * n)) - 1);
        const int sv = 4 * n;
        __m512 scales[2], mins[2];
        for (int r = 0; r < nr; r++) {
            const __m512 dd = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p[r])));
            scales[r] = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p[r] + 8)))),
                _mm512_permutexvar_ps(first, dd));
            mins[r] = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p[r] + 24)))),
                _mm512_permutexvar_ps(second, dd));
            p[r] += 40;
        }
        __m512i ia[2][4], ib[2][4];
        for (int r = 0; r < nr; r++)
            for (int t = 0; t < nt; t++) ia[r][t] = ib[r][t] = _mm512_setzero_si512();
        nibble_rows(nr, nt, p, five, n, sv, bm, xg, split, ia, ib);
        for (int r = 0; r < nr; r++) p[r] += 16 * n + (five ? 64 : 0);
        for (int t = 0; t < nt; t++) {
            const __m512 xdv = _mm512_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_D(n));
            const __m512 xsv = _mm512_maskz_loadu_ps(lm, xg[t] + KILN_Q8_GROUP_S(n));
            for (int r = 0; r < nr; r++) {
                const __m512i sum = split ? _mm512_add_epi32(ia[r][t], ib[r][t]) : ia[r][t];
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(scales[r], xdv), acc[r][t]);
                acc[r][t] = _mm512_fnmadd_ps(mins[r], xsv, acc[r][t]);
            }
            xg[t] += KILN_Q8_GROUP_BYTES;
        }
    }
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) out[r * 4 + t] = hsum(acc[r][t]);
}

/// Q6_K: `nr` rows (1 or 2) against `nt` tokens, out[r * 4 + t]; lanes are 16-value sub-blocks, a group is one
/// super-block. The quants' offset of 32 is summed apart (scale · Σ x per lane) and taken off at the end, the same
/// float operations for any nr, nt and t0. (Taking it off the integer sums instead measured slower: the vector
/// ALUs, not the multiply pipes, bound this kernel.)
INLINE void packed_q6_k(
    const int nr, const int nt, const uint8_t *const *rows, const kiln_q8_act *a, int64_t t0, int64_t k,
    float *out) {
    const uint8_t *p[2] = {rows[0], nr > 1 ? rows[1] : rows[0]};
    const int8_t *xq[4];
    const float *xd[4];
    const int16_t *xsum[4];
    __m512 acc[2][4], oacc[2][4];
    for (int t = 0; t < nt; t++) {
        xq[t] = a->qs16 + (t0 + t) * k;
        xd[t] = a->d16 + (t0 + t) * (k / 16);
        xsum[t] = a->sums + (t0 + t) * (k / 16);
        for (int r = 0; r < nr; r++) acc[r][t] = oacc[r][t] = _mm512_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x30);
    for (int64_t g = 0; g < k / 256; g++) {
        __m512 scales[2];
        __m512i w[2][4];
        for (int r = 0; r < nr; r++) {
            scales[r] = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p[r] + 2)))),
                _mm512_set1_ps(_cvtsh_ss(kiln_load_u16(p[r]))));
            const uint8_t *q = p[r] + 18;
            const __m512i l0 = _mm512_loadu_si512((const void *)q), l1 = _mm512_loadu_si512((const void *)(q + 64));
            const __m512i h = _mm512_loadu_si512((const void *)(q + 128));
            w[r][0] = _mm512_or_si512(_mm512_and_si512(l0, m4), _mm512_and_si512(_mm512_slli_epi16(h, 4), m2));
            w[r][1] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(l0, 4), m4), _mm512_and_si512(_mm512_slli_epi16(h, 2), m2));
            w[r][2] = _mm512_or_si512(_mm512_and_si512(l1, m4), _mm512_and_si512(h, m2));
            w[r][3] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(l1, 4), m4), _mm512_and_si512(_mm512_srli_epi16(h, 2), m2));
            p[r] += 210;
        }
        for (int t = 0; t < nt; t++) {
            const int8_t *x = xq[t] + 256 * g;
            const __m512i x0 = _mm512_loadu_si512((const void *)x), x1 = _mm512_loadu_si512((const void *)(x + 64));
            const __m512i x2 = _mm512_loadu_si512((const void *)(x + 128));
            const __m512i x3 = _mm512_loadu_si512((const void *)(x + 192));
            const __m512 sums = _mm512_cvtepi32_ps(
                _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(xsum[t] + 16 * g))));
            const __m512 xdv = _mm512_loadu_ps(xd[t] + 16 * g);
            for (int r = 0; r < nr; r++) {
                const __m512 sc = _mm512_mul_ps(scales[r], xdv);
                oacc[r][t] = _mm512_fmadd_ps(sc, sums, oacc[r][t]);
                __m512i ia = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[r][0], x0);
                __m512i ib = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[r][1], x1);
                ia = _mm512_dpbusd_epi32(ia, w[r][2], x2);
                ib = _mm512_dpbusd_epi32(ib, w[r][3], x3);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(ia, ib)), sc, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) out[r * 4 + t] = hsum(acc[r][t]) - 32 * hsum(oacc[r][t]);
}

/// Rows rows[0 ..< nr] (nr 1 or 2) against tokens t0 ..< t0 + nt into out[r * 4 + t].
INLINE void packed_any(
    const uint32_t type, const int nr, const int nt, const uint8_t *const *rows, const kiln_q8_act *a, int64_t t0,
    int64_t k, float *out) {
    switch (type) {
    case T_Q4_K: packed_q45_k(0, nr, nt, rows, a, t0, k, out); break;
    case T_Q5_K: packed_q45_k(1, nr, nt, rows, a, t0, k, out); break;
    case T_Q6_K: packed_q6_k(nr, nt, rows, a, t0, k, out); break;
    default:
        packed_block32(type, nr, nt, rows, a, t0, k, out);
        break;
    }
}

/// Every row against the tokens, four tokens and two rows at a time. Tokens go in tiles whose activations fit in
/// L1 (~32 KiB), and each tile meets every row before the next: x is then read from L1 and each packed row from
/// L2 once per tile, instead of all tokens' x streaming from L2 for every row. Where a row or token lands in these
/// tiles changes nothing in its result (see packed_block32).
INLINE void packed_format(
    const uint32_t type, const uint8_t *w, int64_t row_bytes, int64_t r0, int64_t r1, const kiln_q8_act *a,
    int64_t k, int64_t tokens, float *y, int64_t y_stride) {
    float out[8];
    // Decode (one token) streams its rows from DRAM fastest one at a time; with several tokens, pairs of rows
    // halve the activation loads per product. Software prefetch is for the tiles of several tokens only: in
    // decode the hardware prefetcher already follows the rows, and prefetching whole rows ahead into L1 made the
    // Q6_K and Q8_0 matvecs 10-35 % slower (it evicts the activations and takes load slots).
    const int pair = tokens > 1;
#define KERNEL(nr, nt, rows, t) packed_any(type, nr, nt, rows, a, t, k, out)
    KILN_PACKED_TILES(KERNEL, pair);
#undef KERNEL
}

/// One function per format, each compiled on its own: inlined into one function, the formats' loops shared one
/// register allocation and stack frame, and an edit to one format's code moved another's speed by up to 35 %.
#define PACKED_FORMAT_FN(T)                                                                                            \
    static __attribute__((noinline)) TARGET void packed_##T(                                                         \
        const uint8_t *w, int64_t row_bytes, int64_t r0, int64_t r1, const kiln_q8_act *a, int64_t k, int64_t tokens, \
        float *y, int64_t y_stride) {                                                                                  \
        packed_format(T, w, row_bytes, r0, r1, a, k, tokens, y, y_stride);                                            \
    }
PACKED_FORMAT_FN(T_Q4_0)
PACKED_FORMAT_FN(T_Q4_1)
PACKED_FORMAT_FN(T_Q8_0)
PACKED_FORMAT_FN(T_Q4_K)
PACKED_FORMAT_FN(T_Q5_K)
PACKED_FORMAT_FN(T_Q6_K)
#undef PACKED_FORMAT_FN

TARGET void kiln_matmul_packed_avx512(
    uint32_t type, const uint8_t *w, int64_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    switch (type) {
    case T_Q4_0: packed_T_Q4_0(w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q4_1: packed_T_Q4_1(w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q8_0: packed_T_Q8_0(w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q4_K: packed_T_Q4_K(w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q5_K: packed_T_Q5_K(w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    case T_Q6_K: packed_T_Q6_K(w, row_bytes, r0, r1, &act, k, tokens, y, y_stride); break;
    default: break;
    }
}

#endif
