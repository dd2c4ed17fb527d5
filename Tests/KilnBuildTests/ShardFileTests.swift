import Foundation
import KilnBuild
import KilnFormats
import KilnModels
import KilnTensors
import Testing

/// `kiln build --tp N [--pp M]`: each rank's file holds exactly its slice of the whole engine, byte for byte. The
/// oracle is the whole engine built from the same source with the same options, cut here by the Megatron split the
/// test computes itself from the model's shape: KV heads split over the ranks (the first `kvHeads % N` taking one
/// more) with their groups' query heads, FFN rows in units of the down matrices' largest block, the attention
/// output's and down's input columns to match unless such a slice would cut a quantization block (then whole).
@Suite(.serialized) struct ShardFileTests {
    struct Split {
        var kvHeads: Range<Int>
        var ffn: Range<Int>
        var wholeOutput: Bool
        var wholeDown: Bool
    }

    static func split(_ count: Int, _ rank: Int, _ size: Int) -> Range<Int> {
        let (base, extra) = (count / size, count % size)
        let lower = rank * base + min(rank, extra)
        return lower..<lower + base + (rank < extra ? 1 : 0)
    }

    /// Rank `shard` of `shards`'s split of `layers`, from the whole engine's shapes and formats.
    static func expectedSplit(_ whole: EngineFile, layers: Range<Int>, shard: Int, shards: Int) -> Split {
        let c = whole.metadata.config
        let (heads, kvHeads, headDim, ffn) = (Int(c["heads"]!)!, Int(c["kvHeads"]!)!, Int(c["headDim"]!)!, Int(c["ffn"]!)!)
        func block(_ name: String) -> Int {
            layers.map { whole.tensor("blk.\($0).\(name)")!.type.blockElements }.max()!
        }
        let kv = split(kvHeads, shard, shards)
        let down = block("ffn_down.weight")
        let wholeDown = ffn % down != 0 || ffn / down < shards
        let units = split(ffn / down, shard, shards)
        let group = heads / kvHeads
        let q = kv.lowerBound * group * headDim..<kv.upperBound * group * headDim
        let o = block("attn_output.weight")
        return Split(
            kvHeads: kv, ffn: wholeDown ? split(ffn, shard, shards) : units.lowerBound * down..<units.upperBound * down,
            wholeOutput: q.lowerBound % o != 0 || q.upperBound % o != 0, wholeDown: wholeDown)
    }

    /// Every tensor of each rank's file against the whole engine's rows and columns for that rank.
    static func expectSlices(whole: EngineFile, files: [String], shards: Int, stages: Int) throws {
        let c = whole.metadata.config
        let (layers, heads, kvHeads, headDim) = (Int(c["layers"]!)!, Int(c["heads"]!)!, Int(c["kvHeads"]!)!, Int(c["headDim"]!)!)
        let tied = whole.tensor("output.weight") == nil
        #expect(files.count == shards * stages)
        for (rank, path) in files.enumerated() {
            let file = try EngineFile(path: path)
            #expect(file.verify().isEmpty, "\(path)")
            let (stage, shard) = (rank / shards, rank % shards)
            let stageLayers = split(layers, stage, stages)
            let s = expectedSplit(whole, layers: stageLayers, shard: shard, shards: shards)
            let meta = try #require(file.metadata.shard)
            #expect(meta.shard == shard && meta.shards == shards && meta.kvHeads == s.kvHeads && meta.ffn == s.ffn)
            #expect(meta.wholeAttentionOutput == s.wholeOutput && meta.wholeFFNDown == s.wholeDown)
            #expect(file.metadata.stage?.stage == (stages > 1 ? stage : nil))
            let group = heads / kvHeads
            let q = s.kvHeads.lowerBound * group * headDim..<s.kvHeads.upperBound * group * headDim
            let kv = s.kvHeads.lowerBound * headDim..<s.kvHeads.upperBound * headDim
            // The tensors this rank must hold: its stage's layers, the embeddings on the first stage, the final norm
            // and head on rank 0 (which computes the logits).
            var expected = Set(whole.tensorNames.filter { name in
                guard name.hasPrefix("blk.") else { return false }
                return stageLayers.contains(Int(name.dropFirst(4).prefix { $0.isNumber })!)
            })
            if stage == 0 { expected.insert("token_embd.weight") }
            if rank == 0 {
                expected.insert("output_norm.weight")
                if !tied { expected.insert("output.weight") }
            }
            if whole.tensor("rope_freqs.weight") != nil { expected.insert("rope_freqs.weight") }
            #expect(Set(file.tensorNames) == expected, "\(path): \(Set(file.tensorNames).symmetricDifference(expected))")
            for name in file.tensorNames {
                let mine = try #require(file.tensor(name))
                let full = try #require(whole.tensor(name))
                #expect(mine.type == full.type, "\(name)")
                var rows = 0..<(full.shape.count == 1 ? full.shape[0] : full.shape[0])
                var columns = 0..<(full.shape.count == 1 ? 1 : full.shape[1])
                if name.hasSuffix(".attn_q.weight") || name.hasSuffix(".attn_q.bias") { rows = q }
                if [".attn_k.weight", ".attn_v.weight", ".attn_k.bias", ".attn_v.bias"].contains(where: name.hasSuffix) { rows = kv }
                if name.hasSuffix(".ffn_gate.weight") || name.hasSuffix(".ffn_up.weight") { rows = s.ffn }
                if name.hasSuffix(".attn_output.weight"), !s.wholeOutput { columns = q }
                if name.hasSuffix(".ffn_down.weight"), !s.wholeDown { columns = s.ffn }
                let vector = full.shape.count == 1
                #expect(mine.shape == (vector ? [rows.count] : [rows.count, columns.count]), "\(name): \(mine.shape)")
                // Bytes of `elements` values (a quantized row is whole blocks).
                func bytes(_ elements: Int) -> Int { mine.type.byteCount(elements: elements)! }
                if vector {
                    let a = UnsafeRawBufferPointer(start: mine.data, count: bytes(rows.count))
                    let b = UnsafeRawBufferPointer(start: full.data + bytes(rows.lowerBound), count: bytes(rows.count))
                    #expect(a.elementsEqual(b), "\(name)")
                    continue
                }
                var differing = 0
                for (i, r) in rows.enumerated() {
                    let a = UnsafeRawBufferPointer(start: mine.data + i * bytes(columns.count), count: bytes(columns.count))
                    let b = UnsafeRawBufferPointer(
                        start: full.data + r * bytes(full.shape[1]) + bytes(columns.lowerBound), count: bytes(columns.count))
                    if !a.elementsEqual(b) { differing += 1 }
                }
                #expect(differing == 0, "\(path) \(name): \(differing) of \(rows.count) rows differ from the whole engine's slice")
            }
        }
    }

    static func build(_ source: String, _ dir: TemporaryDirectory, _ options: BuildOptions, tp: Int, pp: Int) throws
        -> (whole: EngineFile, files: [String])
    {
        _ = try EngineBuilder.build(source: source, output: dir.path + "/whole.kiln", options: options, threads: 2)
        var split = options
        split.tensorParallel = tp
        split.pipelineStages = pp
        let reports = try EngineBuilder.buildAll(source: source, output: dir.path + "/m.kiln", options: split, threads: 2)
        let files = (0..<tp * pp).map { dir.path + "/m.rank\($0)-of-\(tp * pp).kiln" }
        #expect(reports.map(\.output) == files)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/m.kiln"))
        return (try EngineFile(path: dir.path + "/whole.kiln"), files)
    }

    /// SmolLM2 (3 KV heads: 2 + 1 over two ranks) with its GGUF formats kept, TP=2 and TP=2×PP=2.
    @Test(arguments: [(2, 1), (2, 2)]) func rankFilesHoldTheirSlices(tp: Int, pp: Int) throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (whole, files) = try Self.build(source, dir, BuildOptions(), tp: tp, pp: pp)
        try Self.expectSlices(whole: whole, files: files, shards: tp, stages: pp)
    }

    /// int8 with one scale per 128 values, stored as 32-value blocks each repeating its group's scale: a rank's
    /// columns start on 32-value boundaries inside a group (SmolLM2's o_proj: 384 of 576), and hold exactly the
    /// whole engine's values there.
    @Test func groupedQuantizationSlicesOnBlockBoundaries() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (whole, files) = try Self.build(source, dir, BuildOptions(weights: .int8, groupSize: 128), tp: 2, pp: 1)
        try Self.expectSlices(whole: whole, files: files, shards: 2, stages: 1)
    }

    /// More ranks than KV heads cannot split the heads: refused before any file is written.
    @Test func moreRanksThanKVHeadsIsRefused() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var options = BuildOptions()
        options.tensorParallel = 4
        options.pipelineStages = 2
        #expect {
            try EngineBuilder.buildAll(source: source, output: dir.path + "/m.kiln", options: options, threads: 2)
        } throws: { "\($0)".contains("--tp 4") && "\($0)".contains("4 ranks need at least 4 KV heads; this model has 3") }
        #expect(dir.contents.isEmpty, "\(dir.contents)")
    }

    final class NoTransport: ShardTransport, @unchecked Sendable {
        let rank: Int
        let size: Int
        init(rank: Int, size: Int) { (self.rank, self.size) = (rank, size) }
        func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int) throws { throw ModelError("test", "no peers") }
        func broadcast(_ words: inout [Int64], idle: Bool) throws { throw ModelError("test", "no peers") }
    }

    /// A rank file loaded by a job of another shape, by the wrong rank, or as a whole model is refused with what to
    /// do instead.
    @Test func rankFilesRefuseAnotherJob() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var options = BuildOptions()
        options.tensorParallel = 2
        let reports = try EngineBuilder.buildAll(source: source, output: dir.path + "/m.kiln", options: options, threads: 2)
        let (rank0, rank1) = (reports[0].output, reports[1].output)
        func refusal(_ load: () throws -> Any) -> String {
            do {
                _ = try load()
                return "loaded"
            } catch { return "\(error)" }
        }
        let whole = refusal { try ModelLoader.transformer(ModelLoader.open(rank1), threads: 1) }
        #expect(
            whole.contains("rank 1 of a 2-rank build (tensor shard 1 of 2), not a whole model")
                && whole.contains("mpirun -np 2 kiln serve --tensor-parallel 2 --model"), "\(whole)")
        let three = refusal { try LoadedModel.loadShard(rank0, transport: NoTransport(rank: 0, size: 3), threads: 1) }
        #expect(
            three.contains("this job runs --tensor-parallel 3 (3 ranks)") && three.contains("rebuild for this job with kiln build --tp 3"),
            "\(three)")
        let wrongRank = refusal { try LoadedModel.loadShard(rank0, transport: NoTransport(rank: 1, size: 2), threads: 1) }
        #expect(wrongRank.contains("rank 1 needs its own, \(rank1)"), "\(wrongRank)")
        // Any rank's name resolves to each rank's own file.
        #expect(LoadedModel.rankFile(rank0, rank: 1, shards: 2, stages: 1) == rank1)
    }
}
