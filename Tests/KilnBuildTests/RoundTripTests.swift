import Foundation
import KilnBuild
import KilnFormats
import KilnModels
import KilnTensors
import Testing

/// An engine built with --weights keep computes exactly what its source computes: the same weight bytes reach the
/// same kernels (the query rows scaled by the folded 1/8, a power of two), so every logit of every golden prompt
/// must be bit-identical, on the fast path (where the engine's stored packed copies replace packing at load) and on
/// the float32-activation reference path. The oracle is the
/// source loaded directly, a separate load path that ReferenceTests check against transformers.
@Suite(.serialized) struct RoundTripTests {
    static func logits(_ model: Transformer, _ ids: [Int32], _ precision: Precision) throws -> [Float] {
        model.precision = precision
        return try model.forward(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
    }

    static func expectIdentical(source: String, precisions: [Precision], prompts: [GoldenPrompts.Prompt]) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let output = dir.path + "/model.kiln"
        let report = try EngineBuilder.build(source: source, output: output, options: BuildOptions(), threads: 2)
        #expect(report.metadata.plan.fused.count > 0, "no QKV or gate/up fusion in \(source)")
        let direct = try ModelLoader.transformer(ModelLoader.open(source), threads: 2)
        let engine = try ModelLoader.transformer(ModelLoader.open(output), threads: 2)
        #expect(engine.config.vocabularySize == direct.config.vocabularySize)
        for prompt in prompts {
            // The 1,100-token prompt on the fast path only: the float32-activation path is slow at that length.
            for precision in precisions where precision == .fast || prompt.ids.count <= 256 {
                let a = try logits(direct, prompt.ids, precision)
                let b = try logits(engine, prompt.ids, precision)
                let differing = zip(a, b).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                #expect(a.count == b.count && differing == 0, "\(source) \(prompt.name) \(precision): \(differing) logits differ")
            }
        }
    }

    @Test func ggufKeepGivesIdenticalLogits() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        try Self.expectIdentical(source: source, precisions: [.fast, .reference], prompts: GoldenPrompts.load("smollm2"))
    }

    @Test func huggingFaceKeepGivesIdenticalLogits() throws {
        guard let source = modelPath("smollm2-hf-bf16") else { return }
        let prompts = try GoldenPrompts.load("smollm2").filter { $0.name != "long_en" }
        try Self.expectIdentical(source: source, precisions: [.fast, .reference], prompts: prompts)
    }

    /// Fusion stores Q, K, V rows in order: each part read back from the engine is byte-for-byte the source tensor
    /// (without folds, which change the query rows: FoldingTests).
    @Test func fusedPartsAreTheSourceTensors() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let output = dir.path + "/model.kiln"
        _ = try EngineBuilder.build(source: source, output: output, options: BuildOptions(fold: false), threads: 2)
        let gguf = try GGUFFile(path: source)
        let engine = try EngineFile(path: output)
        #expect(engine.verify().isEmpty)
        let fusedParts = engine.metadata.plan.fused.flatMap(\.parts)
        #expect(fusedParts.contains("blk.0.attn_k.weight") && fusedParts.contains("blk.29.ffn_up.weight"))
        for info in gguf.tensors {
            let view = try #require(engine.tensor(info.name), "\(info.name) missing from the engine")
            #expect(view.type == info.type && view.shape == Array(info.dimensions.reversed()))
            #expect(memcmp(view.data, gguf.data(of: info), info.byteCount) == 0, "\(info.name) bytes differ")
        }
    }

    /// The tokenizer and stop tokens travel in the engine: same ids for the same text as the source's tokenizer.
    @Test(arguments: ["smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-hf-bf16"])
    func tokenizerTravelsWithTheEngine(_ relative: String) throws {
        guard let source = modelPath(relative) else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let output = dir.path + "/model.kiln"
        _ = try EngineBuilder.build(source: source, output: output, options: BuildOptions(), threads: 2)
        let a = try LoadedModel.load(source, threads: 1)
        let b = try LoadedModel.load(output, threads: 1)
        let text = "<|im_start|>user\nCafé — 東京 🎉 def f(x): return x**2<|im_end|>\n"
        #expect(a.tokenizer.encode(text) == b.tokenizer.encode(text))
        #expect(a.stopTokenIDs == b.stopTokenIDs)
    }
}

/// --weights bf16 from the float32 directory against transformers' own bfloat16 conversion of the same model
/// (models/smollm2-hf-bf16, made by torch): every matrix byte-identical (both round to nearest even; built
/// without folds, which scale the query rows).
@Suite struct BFloat16BuildTests {
    @Test func matricesMatchTorchConversion() throws {
        guard let source = modelPath("smollm2-hf"), let torch = modelPath("smollm2-hf-bf16") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let output = dir.path + "/bf16.kiln"
        _ = try EngineBuilder.build(source: source, output: output, options: BuildOptions(weights: .bf16, fold: false), threads: 2)
        let engine = try EngineFile(path: output)
        let torchSource = try ModelLoader.open(torch)
        defer { withExtendedLifetime(torchSource) {} }
        let (_, expected) = try ModelLoader.canonicalTensors(torchSource)
        var compared = 0
        for t in expected where t.shape.count == 2 {
            let view = try #require(engine.tensor(t.name), "\(t.name) missing")
            #expect(view.type == .bf16 && t.type == .bf16 && view.shape == t.shape, "\(t.name)")
            #expect(memcmp(view.data, t.data, t.shape[0] * t.shape[1] * 2) == 0, "\(t.name) differs from torch's bf16")
            compared += 1
        }
        #expect(compared == 1 + 7 * 30, "compared \(compared) matrices")
    }
}
