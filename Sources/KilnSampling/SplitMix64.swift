/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and good enough to draw one uniform number per sampled
/// token. Each sequence owns one, so its draws depend only on its seed, never on what else is in the batch.
/// Also the project's seeded generator wherever reproducible pseudo-random data is needed (benchmarks, tests).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

#if canImport(Glibc)
    import Glibc
    @inline(__always) func expFloat(_ x: Float) -> Float { Glibc.expf(x) }
    @inline(__always) func logDouble(_ x: Double) -> Double { Glibc.log(x) }
#elseif canImport(Darwin)
    import Darwin
    @inline(__always) func expFloat(_ x: Float) -> Float { Darwin.expf(x) }
    @inline(__always) func logDouble(_ x: Double) -> Double { Darwin.log(x) }
#endif
