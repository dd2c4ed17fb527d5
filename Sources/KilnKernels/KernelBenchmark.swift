import KilnTensors

/// Throughput probes for the quantized kernels, for `kiln bench` and the opt-in benchmark test; never asserted on.
///
/// Matvec cycles through enough copies of the matrix to exceed the last-level cache (as decode does, with
/// different weights per layer), so the figure is streaming throughput, not L3 throughput.
public enum KernelBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public let type: DType
        public let rows: Int
        public let k: Int
        public let tokens: Int
        /// Median seconds per call.
        public let seconds: Double
        /// Weight bytes streamed per second (matvec) or multiply-adds per second × 2 (matmul), in 1e9.
        public let gigabytesPerSecond: Double
        public let gigaflops: Double

        public var description: String {
            let us = seconds * 1e6
            return "\(type) \(rows)x\(k) tokens=\(tokens): \(String(us.rounded())) us, "
                + "\(String((gigabytesPerSecond * 10).rounded() / 10)) GB/s weights, "
                + "\(String(gigaflops.rounded())) GFLOP/s"
        }
    }

    public static func matvec(type: DType, rows: Int, k: Int, poolBytes: Int = 96 << 20, repetitions: Int = 200)
        -> Result
    {
        run(type: type, rows: rows, k: k, tokens: 1, poolBytes: poolBytes, repetitions: repetitions)
    }

    public static func matmul(type: DType, rows: Int, k: Int, tokens: Int, repetitions: Int = 10) -> Result {
        run(type: type, rows: rows, k: k, tokens: tokens, poolBytes: 0, repetitions: repetitions)
    }

    static func run(type: DType, rows: Int, k: Int, tokens: Int, poolBytes: Int, repetitions: Int) -> Result {
        let rowBytes = type.byteCount(elements: k)!
        let matrixBytes = rows * rowBytes
        let copies = max(1, poolBytes / max(matrixBytes, 1))
        var rng = SplitMix(seed: 42)
        let pool = UnsafeMutableRawPointer.allocate(byteCount: copies * matrixBytes, alignment: 64)
        defer { pool.deallocate() }
        for i in 0..<(copies * matrixBytes) {
            pool.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self)
        }
        // Finite, moderate scales everywhere: overwrite every fp16 scale field of every block.
        let scaleFields = BlockLayout.fields(of: type).filter { ["d", "m", "dmin"].contains($0.name) && $0.size == 2 }
        for b in 0..<(copies * matrixBytes / type.blockBytes) {
            for f in scaleFields {
                pool.storeBytes(of: Half.fromFloat(0.01), toByteOffset: b * type.blockBytes + f.offset, as: UInt16.self)
            }
        }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * k)
        defer { x.deallocate() }
        for i in 0..<(tokens * k) { x[i] = Float(rng.next() % 1000) / 1000 - 0.5 }
        let y = UnsafeMutablePointer<Float>.allocate(capacity: tokens * rows)
        defer { y.deallocate() }

        var times: [Double] = []
        let clock = ContinuousClock()
        for rep in 0..<(repetitions + repetitions / 10 + 1) {
            let w = pool + (rep % copies) * matrixBytes
            let elapsed = clock.measure {
                QuantKernels.matmul(
                    type: type, weights: w, rowBytes: rowBytes, rows: 0..<rows, x: x, tokens: tokens, k: k, xStride: k,
                    y: y, yStride: rows)
            }
            if rep > repetitions / 10 {  // warm-up
                times.append(Double(elapsed.components.attoseconds) * 1e-18 + Double(elapsed.components.seconds))
            }
        }
        times.sort()
        let median = times[times.count / 2]
        return Result(
            type: type, rows: rows, k: k, tokens: tokens, seconds: median,
            gigabytesPerSecond: Double(matrixBytes) / median / 1e9,
            gigaflops: 2 * Double(rows * k * tokens) / median / 1e9)
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
