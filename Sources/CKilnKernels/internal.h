// Shared between the per-instruction-set kernel files; not part of the public header.
#ifndef CKILN_INTERNAL_H
#define CKILN_INTERNAL_H

#include "include/CKilnKernels.h"
#include <string.h>

// ggml type ids of the formats with Q8-activation kernels.
enum {
    T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14,
};

static inline uint16_t kiln_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t kiln_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t kiln_load_u64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/// IEEE binary16 → float, exact, without F16C.
static inline float kiln_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                e++;
                mantissa <<= 1;
            } while ((mantissa & 0x400) == 0);
            bits = sign | ((uint32_t)(112 - e) << 23) | ((mantissa & 0x3ff) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Q4_K/Q5_K 6-bit scales and mins of the 8 sub-blocks, unpacked from the 12 scale bytes into bytes
/// (scales in the low 8 bytes of *sc, mins in *mn).
static inline void kiln_k_scales(const uint8_t *q, uint64_t *sc, uint64_t *mn) {
    uint32_t u0 = kiln_load_u32(q), u1 = kiln_load_u32(q + 4), u2 = kiln_load_u32(q + 8);
    uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    *sc = (uint64_t)(u0 & 0x3f3f3f3fu) | ((uint64_t)sc_hi << 32);
    *mn = (uint64_t)(u1 & 0x3f3f3f3fu) | ((uint64_t)mn_hi << 32);
}

/// Stores token t's block b (of a row of k values): its 32 quants q at their interleaved places in act.qs16 and in
/// its group of act.groups, with the block's scale d and the sums of its quants' halves, in every array of `act`
/// but qs (the caller's).
static inline void kiln_store_block(
    const kiln_q8_act *act, int64_t t, int64_t k, int64_t b, const int8_t q[32], float d, int sum0, int sum1) {
    const int64_t nb = k / 32, g = b / 16, L = b % 16;
    const int64_t n = nb - 16 * g < 16 ? nb - 16 * g : 16;
    int8_t *grp = act->groups + t * kiln_q8_groups_stride(k) + KILN_Q8_GROUP_BYTES * g;
    for (int i = 0; i < 8; i++) memcpy(grp + i * 4 * n + 4 * L, q + 4 * i, 4);
    const float s = d * (float)(sum0 + sum1);
    const int32_t sum = sum0 + sum1;
    memcpy(grp + KILN_Q8_GROUP_D(n) + 4 * L, &d, 4);
    memcpy(grp + KILN_Q8_GROUP_S(n) + 4 * L, &s, 4);
    memcpy(grp + KILN_Q8_GROUP_SUMS(n) + 4 * L, &sum, 4);
    int8_t *qs16 = act->qs16 + t * k;
    for (int half = 0; half < 2; half++) {
        const int64_t j = 2 * b + half, g16 = j / 16, L16 = j % 16;
        const int64_t n16 = k / 16 - 16 * g16 < 16 ? k / 16 - 16 * g16 : 16;
        for (int i = 0; i < 4; i++) memcpy(qs16 + g16 * 256 + i * 4 * n16 + 4 * L16, q + 16 * half + 4 * i, 4);
    }
    act->d[t * nb + b] = d;
    act->s[t * nb + b] = s;
    act->sums[t * 2 * nb + 2 * b] = (int16_t)sum0;
    act->sums[t * 2 * nb + 2 * b + 1] = (int16_t)sum1;
    act->d16[t * 2 * nb + 2 * b] = d;
    act->d16[t * 2 * nb + 2 * b + 1] = d;
}

void kiln_quantize_q8_portable(const float *x, int64_t k, int64_t tokens, int64_t x_stride, kiln_q8_act act);
void kiln_quantize_q8_avx512(const float *x, int64_t k, int64_t tokens, int64_t x_stride, kiln_q8_act act);

void kiln_matmul_q8_portable(
    uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride);
void kiln_matmul_packed_avx512(
    uint32_t type, const uint8_t *packed, int64_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride);
void kiln_matmul_packed_q5_avx512(
    uint32_t type, const uint8_t *packed, int64_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride);
void kiln_matmul_q8_avx2(
    uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride);
void kiln_matmul_q8_avx512(
    uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride);

/// The tile loop of the packed matmuls (packed_avx512.c, packed_q5_avx512.c): rows r0 ..< r1 against every token,
/// in token tiles whose activations fit in L1 (~32 KiB), each tile meeting every row before the next. A tile holds
/// at least 16 tokens even when their activations spill to L2 (k > 2048): a batch of decode steps then reads each
/// row from DRAM once, not once per 4 tokens (Qwen2.5's k = 4864 down projection read its weights twice for 8
/// streams). Rows go two at a time when `pair`, and the rows of the pair after next are prefetched into L2, not L1,
/// where whole rows would evict the tile's activations (8 streams: Qwen2.5's aggregate decode rate +13 %, SmolLM2's
/// +5-20 %, prefill unchanged). `KERNEL(nr, nt, rows, t)` computes nr rows (1 or 2, nr and nt constants) against
/// tokens t ..< t + nt into out[r * 4 + t]. Expects w, row_bytes, r0, r1, tokens, y, y_stride, k and float out[8]
/// in scope.
#define KILN_PACKED_TILES(KERNEL, pair) KILN_PACKED_TILES_PREPARED(KERNEL, pair, KILN_PACKED_NO_PREPARE)
#define KILN_PACKED_NO_PREPARE(rows, nr) ((void)0)

/// KILN_PACKED_TILES with `PREPARE(rows, nr)` run for each row pair (or single row) of a token tile before its
/// tokens: packed_q5_avx512.c unpacks the rows there once for all of the tile's 4-token calls.
#define KILN_PACKED_TILES_PREPARED(KERNEL, pair, PREPARE)                                                              \
    do {                                                                                                               \
        int64_t tile_ = (32 * 1024 / k) & ~(int64_t)3;                                                                 \
        if (tile_ < 16) tile_ = 16;                                                                                    \
        for (int64_t t0_ = 0; t0_ < tokens; t0_ += tile_) {                                                            \
            const int64_t t1_ = t0_ + tile_ < tokens ? t0_ + tile_ : tokens;                                           \
            for (int64_t r = r0; r < r1;) {                                                                            \
                const int nr = (pair) && r + 1 < r1 ? 2 : 1;                                                           \
                const uint8_t *rows[2] = {w + r * row_bytes, w + (r + nr - 1) * row_bytes};                            \
                if ((pair) && r + nr + 4 <= r1) { /* ask for the rows of the next pair early */                       \
                    const uint8_t *ahead = rows[0] + 4 * row_bytes;                                                    \
                    for (int64_t off = 0; off < nr * row_bytes; off += 64)                                             \
                        _mm_prefetch((const char *)(ahead + off), _MM_HINT_T1);                                        \
                }                                                                                                      \
                PREPARE(rows, nr);                                                                                     \
                int64_t t = t0_;                                                                                       \
                for (; t + 4 <= t1_; t += 4) {                                                                         \
                    if (nr == 2) KERNEL(2, 4, rows, t);                                                                \
                    else KERNEL(1, 4, rows, t);                                                                        \
                    for (int i = 0; i < nr; i++)                                                                       \
                        for (int j = 0; j < 4; j++) y[(t + j) * y_stride + r + i] = out[i * 4 + j];                    \
                }                                                                                                      \
                const int rest = (int)(t1_ - t);                                                                       \
                if (nr == 2) {                                                                                         \
                    switch (rest) {                                                                                    \
                    case 3: KERNEL(2, 3, rows, t); break;                                                              \
                    case 2: KERNEL(2, 2, rows, t); break;                                                              \
                    case 1: KERNEL(2, 1, rows, t); break;                                                              \
                    default: break;                                                                                    \
                    }                                                                                                  \
                } else {                                                                                               \
                    switch (rest) {                                                                                    \
                    case 3: KERNEL(1, 3, rows, t); break;                                                              \
                    case 2: KERNEL(1, 2, rows, t); break;                                                              \
                    case 1: KERNEL(1, 1, rows, t); break;                                                              \
                    default: break;                                                                                    \
                    }                                                                                                  \
                }                                                                                                      \
                for (int i = 0; i < nr; i++)                                                                           \
                    for (int j = 0; j < rest; j++) y[(t + j) * y_stride + r + i] = out[i * 4 + j];                     \
                r += nr;                                                                                               \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

#endif
