// Run-time choice of the instruction set, and the public entry points.
#include "internal.h"
#include <stdlib.h>

int kiln_best_isa(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    static int cached = -1;  // a benign race: every thread computes the same value
    if (cached >= 0) return cached;
    __builtin_cpu_init();
    int isa = KILN_ISA_PORTABLE;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        isa = KILN_ISA_AVX2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
            isa = KILN_ISA_AVX512;
        }
    }
    // KILN_ISA=avx2|portable caps the level (never raises it): to run the lower paths on this CPU, e.g. to check
    // that they too are batch-invariant, or to compare them.
    const char *cap = getenv("KILN_ISA");
    if (cap && strcmp(cap, "avx2") == 0 && isa > KILN_ISA_AVX2) isa = KILN_ISA_AVX2;
    if (cap && strcmp(cap, "portable") == 0) isa = KILN_ISA_PORTABLE;
    cached = isa;
    return isa;
#else
    return KILN_ISA_PORTABLE;
#endif
}

static int resolve(int isa) {
    int best = kiln_best_isa();
    return (isa < 0 || isa > best) ? best : isa;
}

void kiln_quantize_q8(int isa, const float *x, int64_t k, int64_t tokens, int64_t x_stride, kiln_q8_act act) {
#if defined(__x86_64__)
    if (resolve(isa) == KILN_ISA_AVX512) {
        kiln_quantize_q8_avx512(x, k, tokens, x_stride, act);
        return;
    }
#endif
    kiln_quantize_q8_portable(x, k, tokens, x_stride, act);
}

int kiln_q8_supports(uint32_t type) {
    switch (type) {
    case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1: case T_Q8_0: case T_Q4_K: case T_Q5_K: case T_Q6_K:
        return 1;
    default:
        return 0;
    }
}

void kiln_matmul_q8(
    int isa, uint32_t type, const void *weights, size_t row_bytes, int64_t row_begin, int64_t row_end,
    kiln_q8_act act, int64_t k, int64_t tokens, float *y, int64_t y_stride) {
    if (!kiln_q8_supports(type) || row_begin >= row_end || tokens <= 0) return;
#if defined(__x86_64__)
    const int level = resolve(isa);
    if (level == KILN_ISA_AVX512) {
        kiln_matmul_q8_avx512(type, weights, row_bytes, row_begin, row_end, act, k, tokens, y, y_stride);
        return;
    }
    if (level == KILN_ISA_AVX2) {
        kiln_matmul_q8_avx2(type, weights, row_bytes, row_begin, row_end, act, k, tokens, y, y_stride);
        return;
    }
#endif
    kiln_matmul_q8_portable(type, weights, row_bytes, row_begin, row_end, act, k, tokens, y, y_stride);
}

int kiln_packed_runs(uint32_t type) {
    if (kiln_packed_row_bytes(type, 256) == 0 || kiln_best_isa() != KILN_ISA_AVX512) return 0;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (type == T_Q5_0 || type == T_Q5_1) return __builtin_cpu_supports("gfni");  // packed_q5_avx512.c
    return 1;
#else
    return 0;
#endif
}

void kiln_matmul_packed(
    uint32_t type, const void *packed, int64_t row_begin, int64_t row_end, kiln_q8_act act, int64_t k,
    int64_t tokens, float *y, int64_t y_stride) {
    const int64_t row_bytes = kiln_packed_row_bytes(type, k);
    if (row_bytes == 0 || row_begin >= row_end || tokens <= 0) return;
#if defined(__x86_64__)
    if (type == T_Q5_0 || type == T_Q5_1) {
        if (kiln_packed_runs(type))
            kiln_matmul_packed_q5_avx512(type, packed, row_bytes, row_begin, row_end, act, k, tokens, y, y_stride);
        return;
    }
    if (kiln_best_isa() == KILN_ISA_AVX512)
        kiln_matmul_packed_avx512(type, packed, row_bytes, row_begin, row_end, act, k, tokens, y, y_stride);
#endif
}
