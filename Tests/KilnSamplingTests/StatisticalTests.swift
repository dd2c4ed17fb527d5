import Foundation
import KilnSampling
import Testing

/// Sampling frequencies follow the processed distribution that transformers computes.
@Suite struct StatisticalTests {
    /// Pearson's chi-square with a fixed seed; the bound is the mean plus eight standard deviations of the
    /// chi-square distribution (df + 8·√(2·df)), so only a wrong distribution fails it.
    @Test(arguments: [6, 11, 14, 22, 25, 27]) func frequenciesMatchTheGoldenDistribution(index: Int) throws {
        let c = SamplingGolden.shared.truncation[index]
        let logits = SamplingGolden.shared.logits[c.logits]
        var sampler = Sampler(parameters: try parameters(c.request))
        let draws = 20_000
        var counts = [Int32: Int]()
        for _ in 0..<draws {
            var copy = logits
            let id = try copy.withUnsafeMutableBufferPointer { try sampler.sample(processingInPlace: $0).id }
            counts[id, default: 0] += 1
        }
        #expect(Set(counts.keys).isSubset(of: Set(c.survivors)), "\(c.label): sampled outside the survivors")
        var chiSquare = 0.0
        for (id, p) in zip(c.survivors, c.probs) {
            let expected = Double(p) * Double(draws)
            let observed = Double(counts[id] ?? 0)
            chiSquare += (observed - expected) * (observed - expected) / expected
        }
        let df = Double(c.survivors.count - 1)
        #expect(chiSquare <= df + 8 * (2 * df).squareRoot() + 1, "\(c.label): χ² = \(chiSquare) with \(df) df")
    }
}
