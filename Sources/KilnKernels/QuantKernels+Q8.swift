import CKilnKernels
import KilnTensors

// Weights in GGUF block formats against 8-bit activations (Q8Activations): the integer dot products of
// CKilnKernels (AVX-512 VNNI, chosen at run time, with a portable C fallback). Scalar reference: QuantReference.dotQ8.

extension QuantKernels {
    /// Instruction set levels of the C kernels (`isa` arguments); `.best` is what this CPU runs fastest.
    public enum ISA: Int32, Sendable, CaseIterable {
        case portable = 0
        case avx2 = 1
        case avx512 = 2
        public static let best = -1 as Int32

        /// The best level this CPU supports.
        public static var available: ISA { ISA(rawValue: kiln_best_isa()) ?? .portable }
    }

    /// Whether `matmulQ8` has a kernel for weights of `type`.
    public static func hasQ8Kernel(_ type: DType) -> Bool { kiln_q8_supports(type.rawValue) != 0 }

    /// Y[t * yStride + r] = Σ_i w[r, i] · x̂[t, i] for every token of `x` and r in `rows` (k = x.k columns).
    public static func matmulQ8(
        type: DType, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, x: Q8Activations,
        y: UnsafeMutablePointer<Float>, yStride: Int, isa: Int32 = ISA.best
    ) {
        precondition(hasQ8Kernel(type), "no 8-bit activation kernel for \(type)")
        precondition(x.k % type.blockElements == 0, "\(x.k) values are not whole \(type) blocks")
        kiln_matmul_q8(
            isa, type.rawValue, weights, rowBytes, Int64(rows.lowerBound), Int64(rows.upperBound), x.raw, Int64(x.k),
            Int64(x.tokens), y, Int64(yStride))
    }
}
