// Weights repacked once at load into the layout of the AVX-512 kernels (packed_avx512.c).
//
// Why: in ggml's layout every 32-value block has its own scale, so a VNNI kernel must spread block scales over
// the lanes of each product (a permute, a convert and an FMA per 64 values). Here a row is cut into groups of up
// to 16 blocks (16 sub-blocks of 16 for Q6_K) and the quants are interleaved so that lane L of every `vpdpbusd`
// belongs to block L: after the 8 (Q6_K: 4) products of a group each lane holds one block's whole integer dot
// product, and a single convert and FMA with the 16 block scales finishes it. Activations are interleaved the same
// way when they are quantized (kiln_quantize_q8). The byte count stays that of the ggml format (K-quants: +4 bytes
// per 256 values, their 6-bit scales unpacked to bytes).
//
// Group layout for n lanes (step i of lane L = values 4i..4i+3 of block L, stored at byte 4L + (0..3) of step
// vector i, so a step vector is 4n bytes):
//   Q4_0 / Q4_1:  d fp16 [n], (Q4_1: m fp16 [n]), nibbles [4][4n]: vector j holds step 2j (low) and 2j+1 (high)
//   Q5_0 / Q5_1:  as Q4_x, then the fifth bits as one plane [4n]: bit s of byte 4L+b = step s, byte b of lane L
//                 (packed_q5_avx512.c moves a step's bits into place with one gf2p8affineqb)
//   Q8_0:         d fp16 [n], quants + 128 as unsigned bytes [8][4n]
//   Q4_K / Q5_K:  lanes are 32-value sub-blocks, up to 2 super-blocks: d fp16 [2], dmin fp16 [2], scales u8 [16],
//                 mins u8 [16], nibbles [4][4n], (Q5_K: the fifth bits as 8 masks of 64 bits: mask i, bit 4L+b =
//                 step i, byte b of lane L)
//   Q6_K:         lanes are 16-value sub-blocks, one super-block: d fp16, scales i8 [16], low nibbles [2][64]
//                 (vector j: steps 2j, 2j+1), high bits [64] (bits 2s..2s+1 of byte 4L+b: step s)
// Rows are padded to 64 bytes.
#include "internal.h"

/// Values per lane and lanes per group.
static int lane_values(uint32_t type) { return type == T_Q6_K ? 16 : 32; }

static int64_t group_bytes(uint32_t type, int n) {
    switch (type) {
    case T_Q4_0: return 2 * n + 16 * n;
    case T_Q4_1: return 4 * n + 16 * n;
    case T_Q5_0: return 2 * n + 16 * n + 4 * n;
    case T_Q5_1: return 4 * n + 16 * n + 4 * n;
    case T_Q8_0: return 2 * n + 32 * n;
    case T_Q4_K: return 8 + 32 + 16 * n;
    case T_Q5_K: return 8 + 32 + 16 * n + 64;
    case T_Q6_K: return 2 + 16 + 12 * n;
    default: return 0;
    }
}

static int kiln_pack_supports(uint32_t type) {
    switch (type) {
    case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1: case T_Q8_0: case T_Q4_K: case T_Q5_K: case T_Q6_K:
        return 1;
    default:
        return 0;
    }
}

int64_t kiln_packed_row_bytes(uint32_t type, int64_t k) {
    const int lv = lane_values(type);
    if (!kiln_pack_supports(type) || k <= 0 || k % (type >= T_Q4_K ? 256 : 32) != 0) return 0;
    int64_t bytes = 0;
    for (int64_t v = 0; v < k; v += 16 * lv) {
        const int64_t left = (k - v) / lv;
        bytes += group_bytes(type, left < 16 ? (int)left : 16);
    }
    return (bytes + 63) / 64 * 64;
}

/// The unsigned quants (offset removed) of 32-value block `b` of a ggml row.
static void block32_quants(uint32_t type, const uint8_t *row, int64_t b, uint8_t q[32], uint16_t *d, uint16_t *m) {
    int bytes = type == T_Q4_0 ? 18 : type == T_Q4_1 ? 20 : type == T_Q5_0 ? 22 : type == T_Q5_1 ? 24 : 34;
    const uint8_t *p = row + b * bytes;
    *d = kiln_load_u16(p);
    *m = (type == T_Q4_1 || type == T_Q5_1) ? kiln_load_u16(p + 2) : 0;
    if (type == T_Q8_0) {
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)((int)(int8_t)p[2 + j] + 128);
        return;
    }
    const int qo = type == T_Q4_0 ? 2 : type == T_Q4_1 ? 4 : type == T_Q5_0 ? 6 : 8;
    const uint32_t qh = type == T_Q5_0 ? kiln_load_u32(p + 2) : type == T_Q5_1 ? kiln_load_u32(p + 4) : 0;
    for (int j = 0; j < 32; j++) {
        int v = j < 16 ? (p[qo + j] & 15) : (p[qo + j - 16] >> 4);
        q[j] = (uint8_t)(v | (int)((qh >> j) & 1) << 4);
    }
}

/// Writes 32-value lanes' quants q[n][32] as nibble vectors (low 4 bits) and the fifth bits: none (`five` 0), as 8
/// masks of 64 bits (1: Q5_K) or as a plane of 4n bytes (2: Q5_0, Q5_1).
static void put_lanes32(uint8_t *dst, int n, uint8_t q[16][32], int five) {
    uint8_t *nib = dst;
    memset(nib, 0, (size_t)16 * n);
    for (int L = 0; L < n; L++)
        for (int i = 0; i < 8; i++)
            for (int b = 0; b < 4; b++) nib[(i / 2) * 4 * n + 4 * L + b] |= (uint8_t)((q[L][4 * i + b] & 15) << (4 * (i % 2)));
    if (five == 2) {
        uint8_t *plane = dst + 16 * n;
        memset(plane, 0, (size_t)4 * n);
        for (int L = 0; L < n; L++)
            for (int i = 0; i < 8; i++)
                for (int b = 0; b < 4; b++) plane[4 * L + b] |= (uint8_t)(((q[L][4 * i + b] >> 4) & 1) << i);
    } else if (five) {
        uint8_t *masks = dst + 16 * n;
        memset(masks, 0, 64);
        for (int L = 0; L < n; L++)
            for (int i = 0; i < 8; i++)
                for (int b = 0; b < 4; b++)
                    if (q[L][4 * i + b] & 16) masks[8 * i + (4 * L + b) / 8] |= (uint8_t)(1u << ((4 * L + b) % 8));
    }
}

/// Writes one packed row; returns the end of what it wrote (the row's padding follows).
static uint8_t *pack_row(uint32_t type, const uint8_t *row, int64_t k, uint8_t *out) {
    uint8_t q[16][32];
    if (type == T_Q6_K) {
        for (int64_t sb = 0; sb < k / 256; sb++) {
            const uint8_t *p = row + sb * 210;
            memcpy(out, p + 208, 2);
            memcpy(out + 2, p + 192, 16);
            uint8_t *low = out + 18, *high = out + 18 + 128;
            memset(low, 0, 192);
            for (int e = 0; e < 256; e++) {
                const int h = e / 128, n = (e % 128) / 64, i64 = e % 64, kk = (e % 128) / 32, i32 = e % 32;
                const int lo = (p[64 * h + i64] >> (4 * n)) & 15;
                const int hi = (p[128 + 32 * h + i32] >> (2 * kk)) & 3;
                const int L = e / 16, s = (e % 16) / 4, b = e % 4;
                low[(s / 2) * 64 + 4 * L + b] |= (uint8_t)(lo << (4 * (s % 2)));
                high[4 * L + b] |= (uint8_t)(hi << (2 * s));
            }
            out += 210;
        }
        return out;
    }
    if (type == T_Q4_K || type == T_Q5_K) {
        const int five = type == T_Q5_K;
        const int bytes = five ? 176 : 144;
        for (int64_t sb = 0; sb < k / 256; sb += 2) {
            const int supers = sb + 2 <= k / 256 ? 2 : 1, n = 8 * supers;
            memset(out, 0, 40);
            for (int s = 0; s < supers; s++) {
                const uint8_t *p = row + (sb + s) * bytes;
                memcpy(out + 2 * s, p, 2);
                memcpy(out + 4 + 2 * s, p + 2, 2);
                uint64_t sc, mn;
                kiln_k_scales(p + 4, &sc, &mn);
                memcpy(out + 8 + 8 * s, &sc, 8);
                memcpy(out + 24 + 8 * s, &mn, 8);
                const uint8_t *qs = p + (five ? 48 : 16), *qh = p + 16;
                for (int j = 0; j < 8; j++)
                    for (int i = 0; i < 32; i++) {
                        int v = (qs[32 * (j / 2) + i] >> (4 * (j % 2))) & 15;
                        if (five) v |= ((qh[i] >> j) & 1) << 4;
                        q[8 * s + j][i] = (uint8_t)v;
                    }
            }
            put_lanes32(out + 40, n, q, five);
            out += group_bytes(type, n);
        }
        return out;
    }
    const int64_t nb = k / 32;
    for (int64_t g = 0; g < nb; g += 16) {
        const int n = nb - g < 16 ? (int)(nb - g) : 16;
        const int has_m = type == T_Q4_1 || type == T_Q5_1;
        uint8_t *quants = out + (has_m ? 4 : 2) * n;
        for (int L = 0; L < n; L++) {
            uint16_t d, m;
            block32_quants(type, row, g + L, q[L], &d, &m);
            memcpy(out + 2 * L, &d, 2);
            if (has_m) memcpy(out + 2 * n + 2 * L, &m, 2);
        }
        if (type == T_Q8_0) {
            for (int L = 0; L < n; L++)
                for (int i = 0; i < 8; i++) memcpy(quants + i * 4 * n + 4 * L, &q[L][4 * i], 4);
        } else {
            put_lanes32(quants, n, q, type == T_Q5_0 || type == T_Q5_1 ? 2 : 0);
        }
        out += group_bytes(type, n);
    }
    return out;
}

void kiln_pack_rows(
    uint32_t type, const void *weights, size_t row_bytes, int64_t row_begin, int64_t row_end, int64_t k, void *dst) {
    const int64_t packed = kiln_packed_row_bytes(type, k);
    if (packed == 0) return;
    for (int64_t r = row_begin; r < row_end; r++) {
        uint8_t *out = (uint8_t *)dst + r * packed;
        uint8_t *end = pack_row(type, (const uint8_t *)weights + (size_t)r * row_bytes, k, out);
        memset(end, 0, (size_t)(out + packed - end));
    }
}
