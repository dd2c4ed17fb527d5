import Foundation
import KilnBuild
import KilnFormats
import KilnModels
import KilnTensors
import Testing

/// Constants folded into stored weights (`--no-fold` leaves them apart): the attention scale into the query rows
/// (SmolLM2, 1/sqrt(64) = 1/8) or into the query norm (Gemma 3, which normalizes queries: 256^-½ = 1/16), and
/// Gemma's (1 + w) norm weights. Oracles: the source's own bytes times the factor, and the logits of the engine
/// built without folds (and of the source loaded directly), which must be bit-identical: a power-of-two factor
/// only moves exponents.
@Suite(.serialized) struct FoldingTests {
    static func build(_ source: String, _ dir: TemporaryDirectory, fold: Bool) throws -> (String, EngineMetadata) {
        let output = dir.path + "/\(fold ? "fold" : "nofold").kiln"
        let report = try EngineBuilder.build(
            source: source, output: output, options: BuildOptions(fold: fold), threads: 2)
        return (output, report.metadata)
    }

    static func expectSameLogits(_ a: String, _ b: String, prompts: [GoldenPrompts.Prompt], precisions: [Precision]) throws {
        let x = try ModelLoader.transformer(ModelLoader.open(a), threads: 2)
        let y = try ModelLoader.transformer(ModelLoader.open(b), threads: 2)
        for prompt in prompts {
            for precision in precisions {
                let la = try RoundTripTests.logits(x, prompt.ids, precision)
                let lb = try RoundTripTests.logits(y, prompt.ids, precision)
                let differing = zip(la, lb).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                #expect(la.count == lb.count && differing == 0, "\(prompt.name) \(precision): \(differing) logits differ")
            }
        }
    }

    @Test func smolLM2QueryRowsCarryTheScale() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (folded, plan) = try Self.build(source, dir, fold: true)
        let (unfolded, plainPlan) = try Self.build(source, dir, fold: false)
        #expect(plainPlan.plan.folds == [])
        let fold = try #require(plan.plan.folds?.first)
        #expect(plan.plan.folds?.count == 1)
        #expect(fold.kind == EngineFold.attentionScale && fold.value == 0.125)
        #expect(fold.tensors.count == 30 && fold.tensors.contains("blk.29.attn_qkv.weight"), "\(fold.tensors)")

        // Q4_1 rows of Q: scale and offset times 1/8 exactly, quants unchanged; K and V untouched.
        let gguf = try GGUFFile(path: source)
        let engine = try EngineFile(path: folded)
        for layer in [0, 17, 29] {
            for part in ["attn_q", "attn_k", "attn_v"] {
                let name = "blk.\(layer).\(part).weight"
                let info = try #require(gguf.tensorInfo(name))
                #expect(info.type == .q4_1)
                let src = gguf.data(of: info)
                let view = try #require(engine.tensor(name))
                let factor: Float = part == "attn_q" ? 0.125 : 1
                var mismatches = 0
                for block in 0..<(info.byteCount / 20) {
                    let o = block * 20
                    if Half.load(view.data, at: o) != Half.load(src, at: o) * factor { mismatches += 1 }
                    if Half.load(view.data, at: o + 2) != Half.load(src, at: o + 2) * factor { mismatches += 1 }
                    if memcmp(view.data + o + 4, src + o + 4, 16) != 0 { mismatches += 1 }
                }
                #expect(mismatches == 0, "\(name): \(mismatches) fields differ from the source times \(factor)")
            }
        }
        // Both engines compute the same logits, bit for bit, on both precisions.
        let prompts = try GoldenPrompts.load("smollm2").filter { $0.ids.count <= 256 }
        try Self.expectSameLogits(folded, unfolded, prompts: prompts, precisions: [.fast, .reference])
    }

    /// Qwen2.5's first query matrix is Q5_0 with fp16 block scales that 1/8 would push into fp16's subnormal range
    /// and round: the build must refuse the fold and say why, rather than change the model. The engine then
    /// computes the unfolded engine's logits bit for bit.
    @Test func qwenFoldIsRefusedWhereItWouldRound() throws {
        guard let source = modelPath("qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (folded, plan) = try Self.build(source, dir, fold: true)
        let (unfolded, _) = try Self.build(source, dir, fold: false)
        #expect(plan.plan.folds == [])
        let notes = plan.plan.notes ?? []
        #expect(notes.contains { $0.contains("attention scale 0.125 not folded") && $0.contains("fp16 underflow") }, "\(notes)")
        // The claim behind the refusal: some super-block scale of a query matrix rounds when scaled by 1/8.
        let gguf = try GGUFFile(path: source)
        let info = try #require(gguf.tensorInfo("blk.0.attn_q.weight"))
        #expect(info.type == .q5_0)
        let data = gguf.data(of: info)
        let rounds = (0..<(info.byteCount / 22)).contains { block in
            let d = Half.load(data, at: block * 22)
            return Half.toFloat(Half.fromFloat(d * 0.125)) != d * 0.125
        }
        #expect(rounds)
        let prompts = try GoldenPrompts.load("qwen2.5").filter { $0.ids.count <= 48 }
        try Self.expectSameLogits(folded, unfolded, prompts: prompts, precisions: [.fast])
    }

    /// Gemma 3 normalizes queries, so the scale (1/16) goes into attn_q_norm, not the query matrix.
    @Test func gemmaScaleGoesIntoTheQueryNorm() throws {
        guard let source = modelPath("gemma3/gemma-3-270m-q4_k_m.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (folded, plan) = try Self.build(source, dir, fold: true)
        let (unfolded, _) = try Self.build(source, dir, fold: false)
        let fold = try #require(plan.plan.folds?.first)
        #expect(fold.kind == EngineFold.attentionScale && fold.value == 0.0625)
        #expect(fold.tensors.allSatisfy { $0.hasSuffix("attn_q_norm.weight") } && fold.tensors.count == 18, "\(fold.tensors)")
        let gguf = try GGUFFile(path: source)
        let engine = try EngineFile(path: folded)
        let info = try #require(gguf.tensorInfo("blk.3.attn_q_norm.weight"))
        let view = try #require(engine.tensor("blk.3.attn_q_norm.weight"))
        #expect(view.type == .f32 && info.type == .f32)
        let count = info.byteCount / 4
        let src = gguf.data(of: info).assumingMemoryBound(to: Float.self)
        let got = view.data.assumingMemoryBound(to: Float.self)
        #expect((0..<count).allSatisfy { got[$0] == src[$0] / 16 })
        let prompts = try GoldenPrompts.load("gemma3").filter { $0.ids.count <= 64 }
        try Self.expectSameLogits(folded, unfolded, prompts: prompts, precisions: [.fast])
    }

    /// Gemma 3 from Hugging Face: norms stored as 1 + w, and the query norm also carrying the 1/16; the engine's
    /// logits equal the checkpoint's loaded directly (which adds the 1 at load).
    @Test func gemmaHuggingFaceNormOffsetFolds() throws {
        guard let source = modelPath("gemma3-hf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (folded, plan) = try Self.build(source, dir, fold: true)
        let folds = plan.plan.folds ?? []
        let offset = try #require(folds.first { $0.kind == EngineFold.normOffset })
        #expect(offset.value == 1)
        // Per layer: input, post-attention, pre- and post-FFN norms and the query and key norms; plus the output norm.
        #expect(offset.tensors.count == 18 * 6 + 1, "\(offset.tensors.count)")
        #expect(folds.contains { $0.kind == EngineFold.attentionScale && $0.value == 0.0625 })
        let engine = try EngineFile(path: folded)
        let norm = try #require(engine.tensor("blk.0.attn_norm.weight"))
        let source0 = try ModelLoader.open(source)
        let (_, tensors) = try ModelLoader.canonicalTensors(source0)
        let original = try #require(tensors.first { $0.name == "blk.0.attn_norm.weight" })
        var expected = [Float](repeating: 0, count: original.shape[0])
        expected.withUnsafeMutableBufferPointer {
            Dequantize.row(original.type, from: original.data, into: $0.baseAddress!, count: original.shape[0])
        }
        let got = norm.data.assumingMemoryBound(to: Float.self)
        #expect(norm.type == .f32 && (0..<expected.count).allSatisfy { got[$0] == expected[$0] + 1 })
        withExtendedLifetime(source0) {}
        let prompts = try GoldenPrompts.load("gemma3").filter { $0.ids.count <= 12 }
        try Self.expectSameLogits(source, folded, prompts: prompts, precisions: [.reference])
    }
}
