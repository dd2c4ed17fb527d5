// Kiln's C kernels: only what Swift cannot express (VNNI `vpdpbusd` integer dot products).
//
// Every function takes an `isa` argument: KILN_ISA_BEST picks the best instruction set this CPU supports (checked
// once with __builtin_cpu_supports); the tests pass each lower level explicitly to compare the paths. The AVX-512
// code is compiled with target attributes, so the package itself builds for baseline x86-64 (and other CPUs).
#ifndef CKILN_KERNELS_H
#define CKILN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    KILN_ISA_BEST = -1,
    KILN_ISA_PORTABLE = 0,
    KILN_ISA_AVX2 = 1,
    KILN_ISA_AVX512 = 2,
};

/// The best instruction set level this CPU runs (KILN_ISA_PORTABLE .. KILN_ISA_AVX512).
int kiln_best_isa(void);

/// Activations quantized to 8 bits in blocks of 32 values (x ≈ qs · d), one row of `k` per token; arrays are
/// packed per token: token t's values start at qs + t·k, d + t·k/32, s + t·k/32, sums + t·k/16, groups +
/// t·kiln_q8_groups_stride(k). The packed kernels read `qs16` (the quants interleaved like the packed weights in
/// groups of 16 sub-blocks of 16 values) and `groups`: per group of n ≤ 16 blocks of 32 values (512 values, the last
/// group of a row may hold fewer), the group's 32n quants interleaved like the packed weights (pack.c), then its n
/// block scales d, n offsets s and n int32 block sums Σ qs. One pointer per token then reaches everything a group
/// needs, at offsets fixed by n.
typedef struct kiln_q8_act {
    int8_t *qs;      // [tokens, k]      quants in -127...127, in order
    int8_t *groups;  // [tokens, kiln_q8_groups_stride(k)] per group of n blocks: 32n quants, n d, n s, n Σ qs
    int8_t *qs16;    // [tokens, k]      the same, interleaved for 16-value lanes
    float *d;        // [tokens, k/32]   block scale = max|x| / 127
    float *d16;      // [tokens, k/16]   the scale of the block holding each 16 values
    float *s;        // [tokens, k/32]   d · Σ qs over the block (for formats with a per-block offset)
    int16_t *sums;   // [tokens, k/16]   Σ qs over each 16 values (for Q6_K's 16-value sub-blocks)
} kiln_q8_act;

/// Bytes of a whole group (16 blocks) in kiln_q8_act.groups: group g of a token starts KILN_Q8_GROUP_BYTES·g in.
#define KILN_Q8_GROUP_BYTES 704

/// Byte offsets, from a group's start, of the parts of a group of n blocks: the quants at 0, then the n block
/// scales d, the n offsets s and the n int32 sums Σ qs. Macros for the kernels (plain constant arithmetic: the
/// packed kernels' code generation is sensitive even to how an offset is spelled), functions for Swift.
#define KILN_Q8_GROUP_D(n) (32 * (n))
#define KILN_Q8_GROUP_S(n) (36 * (n))
#define KILN_Q8_GROUP_SUMS(n) (40 * (n))
static inline int kiln_q8_group_d(int n) { return KILN_Q8_GROUP_D(n); }
static inline int kiln_q8_group_s(int n) { return KILN_Q8_GROUP_S(n); }
static inline int kiln_q8_group_sums(int n) { return KILN_Q8_GROUP_SUMS(n); }

/// Bytes per token of kiln_q8_act.groups for rows of k values: 44 per block (32 quants, d, s, Σ qs), rounded up to
/// whole 64-byte lines.
static inline int64_t kiln_q8_groups_stride(int64_t k) { return (44 * (k / 32) + 63) / 64 * 64; }

/// Quantizes `tokens` rows of `k` floats (rows `x_stride` floats apart; k a multiple of 32) into `act`. Every
/// instruction set gives bit-identical results (round to nearest even of x / d).
void kiln_quantize_q8(int isa, const float *x, int64_t k, int64_t tokens, int64_t x_stride, kiln_q8_act act);

/// Whether `kiln_matmul_q8` handles weights of this ggml type id (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K).
int kiln_q8_supports(uint32_t ggml_type);

/// y[t·y_stride + r] = Σ_i w[r, i] · x̂[t, i] for rows row_begin..<row_end and tokens 0..<tokens, where row r of the
/// weights starts r·row_bytes past `weights` (ggml block layout) and x̂ is the quantized activations.
void kiln_matmul_q8(
    int isa, uint32_t ggml_type, const void *weights, size_t row_bytes, int64_t row_begin, int64_t row_end,
    kiln_q8_act act, int64_t k, int64_t tokens, float *y, int64_t y_stride);

/// Weights repacked for the AVX-512 kernels (layout in pack.c). Bytes per packed row of `k` values; 0 when the
/// format has no packed layout or k is not whole blocks.
int64_t kiln_packed_row_bytes(uint32_t ggml_type, int64_t k);

/// Packs rows row_begin..<row_end of a ggml-layout matrix into `dst` (row r at r · kiln_packed_row_bytes).
void kiln_pack_rows(
    uint32_t ggml_type, const void *weights, size_t row_bytes, int64_t row_begin, int64_t row_end, int64_t k, void *dst);

/// Whether this CPU runs kiln_matmul_packed for the type: AVX-512 VNNI (kiln_best_isa() == KILN_ISA_AVX512), and
/// GFNI for Q5_0 and Q5_1.
int kiln_packed_runs(uint32_t ggml_type);

/// kiln_matmul_q8 over packed rows (row r at r · kiln_packed_row_bytes(type, k) past `packed`). Needs
/// kiln_packed_runs(type); does nothing otherwise.
void kiln_matmul_packed(
    uint32_t ggml_type, const void *packed, int64_t row_begin, int64_t row_end, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride);

/// Asks for the cache line holding `p` ahead of its use: into L1 (`kiln_prefetch`) or L2 (`kiln_prefetch_l2`).
/// For Swift code that walks memory the hardware prefetcher does not follow (attention's key and value rows).
static inline void kiln_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline void kiln_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }

#ifdef __cplusplus
}
#endif

#endif
