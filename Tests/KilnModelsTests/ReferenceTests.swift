import Foundation
import KilnModels
import KilnSampling
import Testing

/// Kiln's forward pass against transformers on the real checkpoints: logits at the golden positions within
/// 1e-3 × max|logit|, and 32 greedy tokens identical up to the first reference near-tie.
///
/// The GGUF files and their Hugging Face conversions hold the same (dequantized) weights, so both paths are
/// checked against the same goldens.
@Suite(.serialized) struct ReferenceTests {
    static let checkpoints: [(golden: String, path: String)] = [
        ("smollm2", "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ("smollm2", "smollm2-hf"),
        ("smollm2-bf16", "smollm2-hf-bf16"),
        ("gemma3", "gemma3/gemma-3-270m-q4_k_m.gguf"),
        ("gemma3", "gemma3-hf"),
        ("qwen2.5", "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        ("qwen2.5", "qwen2.5-hf"),
    ]

    @Test(arguments: checkpoints)
    func logitsAndGreedyMatchTransformers(golden name: String, path relative: String) throws {
        let goldenFile = packageRoot() + "/Tests/goldens/\(name).json"
        guard FileManager.default.fileExists(atPath: goldenFile) else {
            Issue.record("missing \(goldenFile)")
            return
        }
        guard let path = modelPath(relative) else { return }
        let golden = try ModelGolden.load(name)
        let model = try ModelLoader.transformer(ModelLoader.open(path), threads: 2)
        model.precision = .reference  // float32 activations: the fast path's 8-bit ones are checked in FastPathTests
        #expect(model.config.vocabularySize == golden.meta.vocab_size)
        for prompt in golden.prompts {
            try check(prompt, golden: golden, model: model, label: "\(relative) \(prompt.name)")
        }
    }

    func check(_ prompt: ModelGolden.Prompt, golden: ModelGolden, model: Transformer, label: String) throws {
        let vocab = model.config.vocabularySize
        let cache = model.makeCache(capacity: prompt.ids.count + prompt.greedy.count)
        let positions = prompt.logits.map(\.pos)
        let wantLast = positions.last == prompt.ids.count - 1
        let selected = wantLast ? positions : positions + [prompt.ids.count - 1]
        let logits = try model.forward(prompt.ids, cache: cache, logits: .positions(selected))

        for (i, reference) in prompt.logits.enumerated() {
            let row = Array(logits[i * vocab..<(i + 1) * vocab])
            let tolerance = 1e-3 * reference.max_abs
            var worst: Float = 0
            for pair in reference.top { worst = max(worst, abs(row[Int(pair[0])] - pair[1])) }
            for (id, value) in zip(golden.tail_ids, reference.tail) { worst = max(worst, abs(row[Int(id)] - value)) }
            #expect(worst <= tolerance, "\(label) pos \(reference.pos): max |Δlogit| \(worst) > \(tolerance)")
            let top1 = row.indices.max { row[$0] < row[$1] }!
            let referenceGap = reference.top[0][1] - reference.top[1][1]
            if referenceGap > tolerance {
                #expect(top1 == Int(reference.top[0][0]), "\(label) pos \(reference.pos): argmax differs")
            }
        }

        // Greedy continuation from the cache the prompt left behind.
        var next = Array(logits[(selected.count - 1) * vocab..<selected.count * vocab])
        var generated: [Int32] = []
        for step in 0..<prompt.greedy.count {
            let token = next.withUnsafeBufferPointer { Sampler.argmax($0) }
            generated.append(token)
            if token != prompt.greedy[step] {
                #expect(
                    prompt.greedy_margins[step] < 0.05,
                    "\(label): greedy token \(step) is \(token), reference \(prompt.greedy[step]) (margin \(prompt.greedy_margins[step]))"
                )
                return  // a divergence at a reference near-tie: the rest is a different, equally valid continuation
            }
            if step + 1 < prompt.greedy.count { next = try model.forward([token], cache: cache) }
        }
        #expect(generated == prompt.greedy, "\(label)")
    }
}
