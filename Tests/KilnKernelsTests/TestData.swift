import KilnTensors

/// SplitMix64: a tiny seeded generator so test data is the same on every machine.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func floats(_ n: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in Float.random(in: range, using: &self) }
    }
}

/// A weight matrix of random blocks of `type`: `rows` rows of `k` values, each row `rowBytes` bytes (a few bytes of
/// padding), starting one byte into `bytes` so that nothing is aligned.
struct RandomWeights {
    let type: DType
    let rows: Int
    let k: Int
    let rowBytes: Int
    let bytes: [UInt8]
    /// [rows, k], dequantized by the scalar reference.
    let values: [Float]

    init(_ type: DType, rows: Int, k: Int, seed: UInt64) {
        self.type = type
        self.rows = rows
        self.k = k
        var rng = SeededRandom(seed: seed &+ UInt64(type.rawValue) &* 7919 &+ UInt64(k) &* 31 &+ UInt64(rows))
        let dataBytes = type.byteCount(elements: k)!
        let rowBytes = dataBytes + 3
        self.rowBytes = rowBytes
        var bytes = [UInt8](repeating: 0, count: 1 + rows * rowBytes)
        for r in 0..<rows {
            let row = 1 + r * rowBytes
            for i in 0..<dataBytes { bytes[row + i] = UInt8.random(in: 0...255, using: &rng) }
            for b in 0..<(k / type.blockElements) {
                Self.sanitize(type, &bytes, at: row + b * type.blockBytes, &rng)
            }
        }
        self.bytes = bytes
        var values = [Float](repeating: 0, count: rows * k)
        bytes.withUnsafeBytes { src in
            values.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    Dequantize.row(
                        type, from: src.baseAddress! + 1 + r * rowBytes, into: dst.baseAddress! + r * k, count: k)
                }
            }
        }
        self.values = values
    }

    /// Gives one block finite, moderate scales (random bytes there could be NaN, Inf or huge).
    static func sanitize(_ type: DType, _ bytes: inout [UInt8], at offset: Int, _ rng: inout SeededRandom) {
        func put16(_ v: UInt16, _ at: Int) {
            bytes[offset + at] = UInt8(v & 0xff)
            bytes[offset + at + 1] = UInt8(v >> 8)
        }
        switch type {
        case .f32:
            let v = Float.random(in: -1...1, using: &rng).bitPattern
            for i in 0..<4 { bytes[offset + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) }
        case .f16: put16(Half.fromFloat(Float.random(in: -1...1, using: &rng)), 0)
        case .bf16: put16(BFloat16.fromFloat(Float.random(in: -1...1, using: &rng)), 0)
        case .q8_K:
            let v = Float.random(in: -0.01...0.01, using: &rng).bitPattern
            for i in 0..<4 { bytes[offset + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) }
        default:
            for field in BlockLayout.fields(of: type) where ["d", "m", "dmin", "s"].contains(field.name) {
                put16(Half.fromFloat(Float.random(in: -0.05...0.05, using: &rng)), field.offset)
            }
        }
    }

    func withPointer<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        bytes.withUnsafeBytes { body($0.baseAddress! + 1) }
    }

    /// Σ w·x in Double, and Σ |w·x| as the scale of the rounding error, for row r against x.
    func reference(row r: Int, _ x: UnsafePointer<Float>) -> (value: Double, magnitude: Double) {
        var sum = 0.0
        var magnitude = 0.0
        for i in 0..<k {
            let p = Double(values[r * k + i]) * Double(x[i])
            sum += p
            magnitude += abs(p)
        }
        return (sum, magnitude)
    }
}

/// Reduction lengths the kernel tests use: the awkward and model sizes that are whole blocks of `type`.
func testLengths(_ type: DType) -> [Int] {
    [32, 64, 96, 256, 512, 576, 640, 896, 1536, 2304, 4864].filter { $0 % type.blockElements == 0 }
}

let allTypes = DType.allCases
