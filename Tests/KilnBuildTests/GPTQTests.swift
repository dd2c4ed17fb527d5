import Foundation
import KilnBuild
import KilnTensors
import Testing

/// GPTQ against a plain Float64 implementation written here from the paper's algorithm (H⁻¹ by Gauss-Jordan, its
/// upper Cholesky factor, the row's columns updated one at a time, each group's grid chosen by `Quantize.row` from
/// the updated weights with H's damped diagonal as importance), on small random problems with correlated inputs,
/// one input that is always zero, rows that are not whole tiles, and groups that are not whole rows.
@Suite struct GPTQTests {
    struct Random {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
    }

    /// Inputs X [tokens, n] with correlated columns (a random mix of a few sources plus noise) and column 5 always
    /// zero; H = Σ x xᵀ as float32, as the build accumulates it.
    static func hessian(n: Int, tokens: Int, seed: UInt64) -> [Float] {
        var random = Random(state: seed)
        let sources = 8
        let mix = (0..<(sources * n)).map { _ in random.next() * 2 }
        var h = [Double](repeating: 0, count: n * n)
        var x = [Double](repeating: 0, count: n)
        for _ in 0..<tokens {
            let z = (0..<sources).map { _ in random.next() * 3 }
            for i in 0..<n {
                x[i] = i == 5 ? 0 : (0..<sources).reduce(random.next()) { $0 + z[$1] * mix[$1 * n + i] }
            }
            for i in 0..<n { for j in 0..<n { h[i * n + j] += x[i] * x[j] } }
        }
        return h.map(Float.init)
    }

    static func weights(rows: Int, n: Int, seed: UInt64) -> [Float] {
        var random = Random(state: seed)
        return (0..<(rows * n)).map { i in Float(random.next() * (i % 37 == 0 ? 0.4 : 0.1)) }
    }

    /// U with H⁻¹ = UᵀU, U upper, for the damped H (λ·mean diag, a zero diagonal taken as 1), all in Float64, and
    /// the damped diagonal (each column's weight in the groups' grid choice).
    static func referenceFactor(_ hf: [Float], n: Int, damping: Double) -> (u: [[Double]], importance: [Float]) {
        var h = (0..<n).map { i in (0..<n).map { j in Double(hf[i * n + j]) } }
        for i in 0..<n where h[i][i] <= 0 { h[i][i] = 1 }
        let mean = (0..<n).map { h[$0][$0] }.reduce(0, +) / Double(n)
        for i in 0..<n { h[i][i] += damping * mean }
        let importance = (0..<n).map { Float(h[$0][$0]) }
        // Gauss-Jordan with partial pivoting.
        var a = h
        var inv = (0..<n).map { i in (0..<n).map { j in i == j ? 1.0 : 0.0 } }
        for c in 0..<n {
            let p = (c..<n).max { abs(a[$0][c]) < abs(a[$1][c]) }!
            a.swapAt(c, p)
            inv.swapAt(c, p)
            let d = a[c][c]
            for j in 0..<n {
                a[c][j] /= d
                inv[c][j] /= d
            }
            for r in 0..<n where r != c && a[r][c] != 0 {
                let f = a[r][c]
                for j in 0..<n {
                    a[r][j] -= f * a[c][j]
                    inv[r][j] -= f * inv[c][j]
                }
            }
        }
        // Cholesky inv = L Lᵀ; U = Lᵀ.
        var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0...i {
                var s = (inv[i][j] + inv[j][i]) / 2
                for k in 0..<j { s -= l[i][k] * l[j][k] }
                l[i][j] = i == j ? s.squareRoot() : s / l[j][j]
            }
        }
        return ((0..<n).map { i in (0..<n).map { j in l[j][i] } }, importance)
    }

    /// A group's (scale, offset) as `Quantize.row` stores them for these values, their errors weighted by
    /// `importance`.
    static func grid(_ values: [Float], _ type: DType, importance: ArraySlice<Float>) -> (d: Double, m: Double) {
        var bytes = [UInt8](repeating: 0, count: type.byteCount(elements: values.count)!)
        let weights = Array(importance)
        values.withUnsafeBufferPointer { v in
            bytes.withUnsafeMutableBytes {
                Quantize.row(
                    v.baseAddress!, count: values.count, as: type, into: $0.baseAddress!, groupSize: values.count,
                    importance: weights)
            }
        }
        func half(_ at: Int) -> Double { Double(Float(Float16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8))) }
        return type == .q4_0 ? (half(0), 0) : (half(0), half(2))
    }

    /// The reference's stored nibbles [rows, n].
    static func referenceLevels(
        _ w: [Float], rows: Int, n: Int, u: [[Double]], importance: [Float], type: DType, group: Int
    ) -> [UInt8] {
        var levels = [UInt8](repeating: 0, count: rows * n)
        for r in 0..<rows {
            var row = (0..<n).map { Double(w[r * n + $0]) }
            var g = (d: 0.0, m: 0.0)
            for i in 0..<n {
                if i % group == 0 {
                    let end = min(i + group, n)
                    g = grid(row[i..<end].map(Float.init), type, importance: importance[i..<end])
                }
                let level: Double
                let q: Double
                if type == .q4_0 {
                    level = g.d == 0 ? 0 : min(7, max(-8, (row[i] / g.d).rounded(.toNearestOrEven)))
                    q = level * g.d
                    levels[r * n + i] = UInt8(Int(level) + 8)
                } else {
                    level = g.d == 0 ? 0 : max(0, min(15, ((row[i] - g.m) / g.d + 0.5).rounded(.down)))
                    q = level * g.d + g.m
                    levels[r * n + i] = UInt8(level)
                }
                let err = (row[i] - q) / u[i][i]
                for j in (i + 1)..<n { row[j] -= err * u[i][j] }
            }
        }
        return levels
    }

    static func nibbles(_ bytes: [UInt8], rows: Int, n: Int, type: DType) -> [UInt8] {
        let header = type == .q4_0 ? 2 : 4
        var out = [UInt8](repeating: 0, count: rows * n)
        for r in 0..<rows {
            for b in 0..<(n / 32) {
                let block = (r * n / 32 + b) * type.blockBytes
                for k in 0..<16 {
                    out[r * n + 32 * b + k] = bytes[block + header + k] & 15
                    out[r * n + 32 * b + k + 16] = bytes[block + header + k] >> 4
                }
            }
        }
        return out
    }

    static func dequantized(_ bytes: [UInt8], rows: Int, n: Int, type: DType) -> [Float] {
        var out = [Float](repeating: 0, count: rows * n)
        let rowBytes = type.byteCount(elements: n)!
        bytes.withUnsafeBytes { p in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows {
                    Dequantize.row(type, from: p.baseAddress! + r * rowBytes, into: o.baseAddress! + r * n, count: n)
                }
            }
        }
        return out
    }

    /// Σ over rows of (w − q) H (w − q)ᵀ: the layer's output error over the inputs behind H.
    static func weightedError(_ w: [Float], _ q: [Float], h: [Float], rows: Int, n: Int) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let e = (0..<n).map { Double(w[r * n + $0] - q[r * n + $0]) }
            for i in 0..<n { for j in 0..<n { total += e[i] * Double(h[i * n + j]) * e[j] } }
        }
        return total
    }

    static let cases: [(DType, Int, Int)] = [(.q4_0, 32, 160), (.q4_1, 32, 160), (.q4_1, 64, 160), (.q4_1, 128, 256)]

    /// The same levels and scales as the reference, and a lower weighted error than rounding each group alone.
    @Test(arguments: cases)
    func matchesReferenceAndBeatsPlainRounding(type: DType, group: Int, n: Int) throws {
        let rows = 11
        let h = Self.hessian(n: n, tokens: 400, seed: UInt64(n + group))
        let w = Self.weights(rows: rows, n: n, seed: 3)
        let factor = try h.withUnsafeBufferPointer { try GPTQ.factor(hessian: $0.baseAddress!, n: n) }
        let rowBytes = type.byteCount(elements: n)!
        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
        w.withUnsafeBufferPointer { wp in
            bytes.withUnsafeMutableBytes {
                GPTQ.quantize(
                    wp.baseAddress!, rows: rows, columns: n, factor: factor, as: type, groupSize: group,
                    into: $0.baseAddress!)
            }
        }
        let (u, importance) = Self.referenceFactor(h, n: n, damping: GPTQ.defaultDamping)
        let expected = Self.referenceLevels(w, rows: rows, n: n, u: u, importance: importance, type: type, group: group)
        let got = Self.nibbles(bytes, rows: rows, n: n, type: type)
        let differing = zip(got, expected).filter { $0 != $1 }.count
        #expect(differing == 0, "\(type) g\(group): \(differing) of \(rows * n) levels differ from the reference")

        var plain = [UInt8](repeating: 0, count: rows * rowBytes)
        w.withUnsafeBufferPointer { wp in
            plain.withUnsafeMutableBytes { out in
                for r in 0..<rows {
                    Quantize.row(
                        wp.baseAddress! + r * n, count: n, as: type, into: out.baseAddress! + r * rowBytes,
                        groupSize: group)
                }
            }
        }
        let eGPTQ = Self.weightedError(w, Self.dequantized(bytes, rows: rows, n: n, type: type), h: h, rows: rows, n: n)
        let ePlain = Self.weightedError(w, Self.dequantized(plain, rows: rows, n: n, type: type), h: h, rows: rows, n: n)
        #expect(eGPTQ < ePlain, "\(type) g\(group): weighted error \(eGPTQ) vs plain rounding \(ePlain)")
    }

    /// The built-in calibration text shares no line with the perplexity text the quantization is measured on.
    @Test func calibrationTextIsNotTheEvaluationText() throws {
        let evaluation = try String(
            contentsOfFile: packageRoot() + "/Tests/goldens/text/coriolanus-5k.txt", encoding: .utf8)
        let lines = Set(evaluation.split(separator: "\n").filter { $0.count >= 24 })
        let shared = CalibrationText.builtIn.text.split(separator: "\n").filter { lines.contains($0) }
        #expect(shared.isEmpty, "shared lines: \(shared.prefix(3))")
        #expect(CalibrationText.builtIn.text.count > 10_000)
    }
}
