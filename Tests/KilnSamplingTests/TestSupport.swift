import Foundation
import KilnSampling

/// Tests/goldens/sampling.json, made by scripts/reference/make_sampling_goldens.py with transformers' processors.
struct SamplingGolden: Decodable {
    struct Repetition: Decodable {
        let logits: Int
        let penalty: Float
        let input_ids: [Int32]
        let processed: [Float]
    }
    struct Truncation: Decodable {
        let logits: Int
        let temperature: Float
        let top_k: Int
        let top_p: Float
        let typical_p: Float
        let min_p: Float
        let survivors: [Int32]
        let probs: [Float]
        let logprobs: [Float]
        let top: [[Float]]  // [id, logprob], best first

        var request: SamplingRequest {
            SamplingRequest(
                temperature: temperature, topK: top_k == 0 ? nil : top_k, topP: top_p == 1 ? nil : top_p,
                typicalP: typical_p == 1 ? nil : typical_p, minP: min_p == 0 ? nil : min_p, seed: 7)
        }
        var label: String { "logits \(logits) T=\(temperature) k=\(top_k) p=\(top_p) typ=\(typical_p) min=\(min_p)" }
    }
    struct Prompt: Decodable {
        let rows: [Int]
        let tokens: [Int32]
        let logprobs: [Float]
        let top: [[[Float]]]
    }
    let logits: [[Float]]
    let repetition: [Repetition]
    let truncation: [Truncation]
    let prompt: Prompt

    static let shared: SamplingGolden = {
        let url = URL(fileURLWithPath: packageRoot() + "/Tests/goldens/sampling.json")
        do {
            return try JSONDecoder().decode(SamplingGolden.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read \(url.path): \(error)")  // test fixture, not user input
        }
    }()
}

/// Walks up from this file to the package root (the folder with Package.swift).
func packageRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}

extension Sampler {
    /// Samples from a copy of `logits`.
    mutating func sample(_ logits: [Float], mask: (any TokenMask)? = nil) throws -> SampledToken {
        try logits.withUnsafeBufferPointer { try sample(logits: $0, mask: mask) }
    }

    /// The processed logits (bias, penalties, mask) of `logits`, without drawing.
    mutating func processed(_ logits: [Float], mask: (any TokenMask)? = nil) throws -> [Float] {
        var copy = logits
        _ = try copy.withUnsafeMutableBufferPointer { try distribution(processingInPlace: $0, mask: mask) }
        return copy
    }

    /// The truncated, renormalised distribution, by id.
    mutating func distribution(_ logits: [Float], mask: (any TokenMask)? = nil) throws -> [TokenLogprob] {
        var copy = logits
        return try copy.withUnsafeMutableBufferPointer { try distribution(processingInPlace: $0, mask: mask) }
    }
}

func parameters(_ request: SamplingRequest) throws -> SamplingParameters { try request.validate() }

func close(_ a: Float, _ b: Float, _ tolerance: Float = 1e-5) -> Bool {
    a == b || abs(a - b) <= tolerance * max(1, abs(a), abs(b))
}
