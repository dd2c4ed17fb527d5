import Foundation
import KilnKernels
import KilnTensors
import Testing

/// Prints kernel throughput; runs only with KILN_BENCH=1 and asserts nothing about speed.
@Suite("Kernel benchmark (KILN_BENCH=1)")
struct KernelBenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KILN_BENCH"] == "1"))
    func printThroughput() {
        let cases: [(DType, Int, Int)] = [
            (.q4_1, 576, 1536), (.q4_K, 896, 4864), (.q8_0, 576, 1536), (.q4_0, 4096, 4096), (.q6_K, 896, 4864),
            (.q5_0, 640, 2048), (.f32, 576, 1536),
        ]
        for (type, rows, k) in cases {
            let r = KernelBenchmark.matvec(type: type, rows: rows, k: k)
            print("matvec", r)
            #expect(r.seconds > 0)
        }
        for (type, rows, k) in [(DType.q4_1, 1536, 576), (.q4_K, 4864, 1024)] {
            let r = KernelBenchmark.matmul(type: type, rows: rows, k: k, tokens: 128)
            print("matmul", r)
            #expect(r.seconds > 0)
        }
    }
}
