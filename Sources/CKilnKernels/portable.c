// Portable scalar kernels: the fallback on CPUs without AVX-512 VNNI, and the readable statement of what the
// vector kernels compute. Within a block the products are summed exactly in integers; each block's sum is then
// scaled in float: Σ_blocks (d_w · d_x) · Σ q_w·q_x + (weight offset) · s_x.
#include "internal.h"
#include <math.h>

void kiln_quantize_q8_portable(const float *x, int64_t k, int64_t tokens, int64_t x_stride, kiln_q8_act act) {
    const int64_t nb = k / 32;
    for (int64_t t = 0; t < tokens; t++) {
        const float *xt = x + t * x_stride;
        int8_t *qs = act.qs + t * k;
        for (int64_t b = 0; b < nb; b++) {
            const float *v = xt + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
            const float d = amax / 127.0f;
            const float id = d != 0 ? 1.0f / d : 0.0f;
            int sum[2] = {0, 0};
            for (int i = 0; i < 32; i++) {
                int q = (int)nearbyintf(v[i] * id);
                qs[b * 32 + i] = (int8_t)q;
                sum[i / 16] += q;
            }
            kiln_store_block(&act, t, k, b, qs + b * 32, d, sum[0], sum[1]);
        }
    }
}

/// Quant j (< 32) of a 16-byte nibble array: low nibbles are values 0..<16, high nibbles 16..<32.
static inline int nibble(const uint8_t *qs, int j) { return j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4); }

/// One row of a 32-value block format against one token.
static float dot_block32(uint32_t type, const uint8_t *row, const kiln_q8_act *a, int64_t t, int64_t k) {
    const int64_t nb = k / 32;
    const int8_t *xq = a->qs + t * k;
    const float *xd = a->d + t * nb, *xs = a->s + t * nb;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *x = xq + b * 32;
        int sumi = 0;
        float d, m = 0;
        switch (type) {
        case T_Q4_0: {
            const uint8_t *p = row + b * 18;
            d = kiln_half_to_float(kiln_load_u16(p));
            m = -8 * d;
            for (int j = 0; j < 32; j++) sumi += nibble(p + 2, j) * x[j];
            break;
        }
        case T_Q4_1: {
            const uint8_t *p = row + b * 20;
            d = kiln_half_to_float(kiln_load_u16(p));
            m = kiln_half_to_float(kiln_load_u16(p + 2));
            for (int j = 0; j < 32; j++) sumi += nibble(p + 4, j) * x[j];
            break;
        }
        case T_Q5_0: {
            const uint8_t *p = row + b * 22;
            d = kiln_half_to_float(kiln_load_u16(p));
            m = -16 * d;
            uint32_t qh = kiln_load_u32(p + 2);
            for (int j = 0; j < 32; j++) sumi += (nibble(p + 6, j) | (int)((qh >> j) & 1) << 4) * x[j];
            break;
        }
        case T_Q5_1: {
            const uint8_t *p = row + b * 24;
            d = kiln_half_to_float(kiln_load_u16(p));
            m = kiln_half_to_float(kiln_load_u16(p + 2));
            uint32_t qh = kiln_load_u32(p + 4);
            for (int j = 0; j < 32; j++) sumi += (nibble(p + 8, j) | (int)((qh >> j) & 1) << 4) * x[j];
            break;
        }
        default: {  // T_Q8_0
            const uint8_t *p = row + b * 34;
            d = kiln_half_to_float(kiln_load_u16(p));
            for (int j = 0; j < 32; j++) sumi += (int8_t)p[2 + j] * x[j];
            break;
        }
        }
        acc += (d * xd[b]) * (float)sumi + m * xs[b];
    }
    return acc;
}

/// One row of Q4_K or Q5_K (256-value super-blocks of eight 32-value sub-blocks) against one token.
static float dot_q45_k(uint32_t type, const uint8_t *row, const kiln_q8_act *a, int64_t t, int64_t k) {
    const int64_t nb = k / 32;
    const int8_t *xq = a->qs + t * k;
    const float *xd = a->d + t * nb, *xs = a->s + t * nb;
    const int five = type == T_Q5_K;
    const int64_t bytes = five ? 176 : 144;
    float acc = 0;
    for (int64_t sb = 0; sb < k / 256; sb++) {
        const uint8_t *p = row + sb * bytes;
        const float d = kiln_half_to_float(kiln_load_u16(p));
        const float dmin = kiln_half_to_float(kiln_load_u16(p + 2));
        uint64_t sc, mn;
        kiln_k_scales(p + 4, &sc, &mn);
        const uint8_t *qh = p + 16;
        const uint8_t *qs = p + (five ? 48 : 16);
        for (int j = 0; j < 8; j++) {
            const int8_t *x = xq + sb * 256 + j * 32;
            int sumi = 0;
            for (int i = 0; i < 32; i++) {
                int q = (qs[32 * (j / 2) + i] >> (4 * (j % 2))) & 15;
                if (five) q |= ((qh[i] >> j) & 1) << 4;
                sumi += q * x[i];
            }
            const float scale = (float)((sc >> (8 * j)) & 0xff), min = (float)((mn >> (8 * j)) & 0xff);
            acc += (d * scale * xd[sb * 8 + j]) * (float)sumi - dmin * min * xs[sb * 8 + j];
        }
    }
    return acc;
}

/// One row of Q6_K (256-value super-blocks of sixteen 16-value sub-blocks, quants 0..63 offset by 32).
static float dot_q6_k(const uint8_t *row, const kiln_q8_act *a, int64_t t, int64_t k) {
    const int64_t nb = k / 32;
    const int8_t *xq = a->qs + t * k;
    const float *xd = a->d + t * nb;
    const int16_t *xsum = a->sums + t * (k / 16);
    float acc = 0;
    for (int64_t sb = 0; sb < k / 256; sb++) {
        const uint8_t *p = row + sb * 210;
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *scales = (const int8_t *)(p + 192);
        const float d = kiln_half_to_float(kiln_load_u16(p + 208));
        for (int s = 0; s < 16; s++) {
            int sumi = 0;
            for (int i = 0; i < 16; i++) {
                const int e = s * 16 + i;
                const int h = e / 128, n = (e % 128) / 64, i64 = e % 64, kk = (e % 128) / 32, i32 = e % 32;
                const int low = (ql[64 * h + i64] >> (4 * n)) & 15;
                const int high = (qh[32 * h + i32] >> (2 * kk)) & 3;
                sumi += (low | high << 4) * xq[sb * 256 + e];
            }
            sumi -= 32 * xsum[sb * 16 + s];
            acc += (d * (float)scales[s] * xd[sb * 8 + s / 2]) * (float)sumi;
        }
    }
    return acc;
}

void kiln_matmul_q8_portable(
    uint32_t type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        for (int64_t t = 0; t < tokens; t++) {
            float v;
            switch (type) {
            case T_Q4_K: case T_Q5_K: v = dot_q45_k(type, row, &act, t, k); break;
            case T_Q6_K: v = dot_q6_k(row, &act, t, k); break;
            default: v = dot_block32(type, row, &act, t, k); break;
            }
            y[t * y_stride + r] = v;
        }
    }
}
