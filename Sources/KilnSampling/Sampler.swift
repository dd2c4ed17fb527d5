/// How the next token is chosen from logits. Temperature 0 means greedy (argmax, lowest id on ties).
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float
    public var topK: Int?
    public var topP: Float?
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// Checks the values a user can pass and says which one to change.
    public func validate() throws(SamplingError) {
        guard temperature >= 0, temperature.isFinite else {
            throw SamplingError("temperature must be a finite number ≥ 0 (0 means greedy), got \(temperature)")
        }
        if let k = topK, k < 1 { throw SamplingError("top-k must be ≥ 1, got \(k)") }
        if let p = topP, !(p > 0 && p <= 1) { throw SamplingError("top-p must be in (0, 1], got \(p)") }
    }
}

public struct SamplingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Chooses tokens for one sequence with its own seeded generator: the same seed and logits give the same tokens.
///
/// Order as in transformers' logits warpers: temperature, then top-k, then top-p (nucleus) over the survivors.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: SplitMix64
    private var candidates: [(id: Int32, logit: Float)] = []

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed)
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if parameters.temperature == 0 || parameters.topK == 1 { return Self.argmax(logits) }
        let invT = 1 / parameters.temperature
        candidates.removeAll(keepingCapacity: true)
        for (i, l) in logits.enumerated() where l.isFinite || l == .infinity { candidates.append((Int32(i), l * invT)) }
        if candidates.isEmpty { return Self.argmax(logits) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if let k = parameters.topK, k < candidates.count { candidates.removeLast(candidates.count - k) }
        let maxLogit = candidates[0].logit
        var probabilities = candidates.map { expDouble(Double($0.logit - maxLogit)) }
        var total = probabilities.reduce(0, +)
        if let p = parameters.topP, p < 1 {
            var cumulative = 0.0
            var keep = probabilities.count
            for (i, q) in probabilities.enumerated() {
                cumulative += q / total
                if cumulative >= Double(p) {
                    keep = i + 1
                    break
                }
            }
            probabilities.removeLast(probabilities.count - keep)
            total = probabilities.reduce(0, +)
        }
        var u = rng.nextDouble() * total
        for (i, q) in probabilities.enumerated() {
            u -= q
            if u < 0 { return candidates[i].id }
        }
        return candidates[probabilities.count - 1].id
    }

    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for (i, l) in logits.enumerated() where l > bestValue {
            best = i
            bestValue = l
        }
        return Int32(best)
    }
}

/// SplitMix64: tiny, fast, and good enough to draw one uniform number per sampled token.
struct SplitMix64: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

#if canImport(Glibc)
    import Glibc
    @inline(__always) func expDouble(_ x: Double) -> Double { Glibc.exp(x) }
#elseif canImport(Darwin)
    import Darwin
    @inline(__always) func expDouble(_ x: Double) -> Double { Darwin.exp(x) }
#endif
