import KilnSampling
import Testing

/// A sequence's tokens depend only on its seed, its logits and its own history.
@Suite struct ReproducibilityTests {
    /// Logits that change with the step, as a model's would.
    static func logits(step: Int, vocabulary: Int = 64) -> [Float] {
        var generator = TestGenerator(seed: UInt64(step + 1))
        return (0..<vocabulary).map { _ in Float(generator.next() % 1000) / 250 }
    }

    static func run(_ request: SamplingRequest, steps: Int = 40, sequenceIndex: Int = 0) throws -> [Int32] {
        var sampler = Sampler(
            parameters: try request.validate(), promptTokens: [1, 2, 3], sequenceIndex: sequenceIndex)
        return try (0..<steps).map { try sampler.sample(logits(step: $0)).id }
    }

    static let request = SamplingRequest(
        temperature: 1.2, topK: 40, topP: 0.95, repetitionPenalty: 1.1, frequencyPenalty: 0.3, seed: 1234)

    @Test func sameSeedSameTokens() throws {
        #expect(try Self.run(Self.request) == Self.run(Self.request))
    }

    @Test func differentSeedsDiffer() throws {
        var other = Self.request
        other.seed = 1235
        #expect(try Self.run(Self.request) != Self.run(other))
        #expect(try Self.run(Self.request) != Self.run(Self.request, sequenceIndex: 1))
    }

    /// Interleaving steps with another sequence (as a batch does) changes nothing for either.
    @Test func independentOfOtherSequences() throws {
        var otherRequest = Self.request
        otherRequest.seed = 5
        otherRequest.temperature = 0.6
        var a = Sampler(parameters: try Self.request.validate(), promptTokens: [1, 2, 3])
        var b = Sampler(parameters: try otherRequest.validate(), promptTokens: [1, 2, 3])
        var fromA: [Int32] = []
        var fromB: [Int32] = []
        for step in 0..<40 {
            if step % 3 != 0 { fromB.append(try b.sample(Self.logits(step: step + 100)).id) }
            fromA.append(try a.sample(Self.logits(step: step)).id)
        }
        #expect(fromA == (try Self.run(Self.request)))
        #expect(Set(fromB).count > 1)
    }

    /// Asking for the distribution draws nothing: the next sample is the same as without asking.
    @Test func distributionDoesNotAdvanceTheGenerator() throws {
        var a = Sampler(parameters: try Self.request.validate())
        var b = Sampler(parameters: try Self.request.validate())
        _ = try a.distribution(Self.logits(step: 0))
        #expect(try a.sample(Self.logits(step: 0)) == b.sample(Self.logits(step: 0)))
    }

    @Test func samplingInPlaceEqualsSamplingACopy() throws {
        var a = Sampler(parameters: try Self.request.validate())
        var b = Sampler(parameters: try Self.request.validate())
        for step in 0..<10 {
            var logits = Self.logits(step: step)
            let inPlace = try logits.withUnsafeMutableBufferPointer { try a.sample(processingInPlace: $0) }
            #expect(inPlace == (try b.sample(Self.logits(step: step))))
        }
    }
}
