import Foundation
import KilnKernels
import KilnTensors

/// A pipeline's link between ranks: the collectives of the step protocol plus point-to-point messages, which carry
/// activations from one stage to the next and the last stage's final hidden states back to rank 0.
public protocol StageTransport: ShardTransport {
    /// Sends `bytes` to rank `peer`; returns once the buffer may be reused.
    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int) throws
    /// Receives exactly `bytes.count` bytes from rank `peer`.
    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws
}

/// Which layers one pipeline stage holds: `stages` contiguous runs of layers, the first `layerCount % stages`
/// stages taking one more. Rank r is stage r (with N tensor-parallel ranks per stage: stage r / N, shard r % N).
/// Stage 0 also embeds the tokens; the last stage sends the final hidden states of the rows that want logits back
/// to rank 0, which applies the final norm and the output head and samples (a hidden state is `hidden` floats, a
/// row of logits `vocabulary`: 2,304 B against 196,608 B for SmolLM2).
public struct StageLayout: Sendable, CustomStringConvertible {
    public let stage: Int
    public let stages: Int
    /// This stage's layers, as indices of the whole model.
    public let layers: Range<Int>
    public let layerCount: Int

    public init(stage: Int, stages: Int, layerCount: Int) throws {
        guard stages >= 1, stage >= 0, stage < stages else { throw ModelError("pipeline parallel", "stage \(stage) of \(stages)") }
        guard layerCount >= stages else {
            throw ModelError("pipeline parallel", "\(stages) stages need at least \(stages) layers; this model has \(layerCount)")
        }
        self.stage = stage
        self.stages = stages
        self.layerCount = layerCount
        layers = ShardLayout.split(layerCount, rank: stage, size: stages)
    }

    public var isFirst: Bool { stage == 0 }
    public var isLast: Bool { stage == stages - 1 }

    public var description: String {
        "stage \(stage)/\(stages): layers \(layers.lowerBound)..<\(layers.upperBound) of \(layerCount)"
            + (isFirst ? ", embeddings, output head (rank 0)" : "")
    }
}

/// A pipeline stage's state: its layout, its transport and how finely a step's rows are cut into micro-batches.
/// With tensor parallelism inside each stage, the job's ranks are stage-major (rank = stage × N + shard) and shard
/// s of a stage passes its activations to shard s of the next (every shard holds the whole hidden state).
final class PipelineStage: StepLink, @unchecked Sendable {
    let layout: StageLayout
    let stageTransport: StageTransport
    /// Micro-batches per step (at most; a step of fewer rows has one per row).
    let microBatches: Int
    /// Tensor-parallel ranks per stage, and this rank's place among its stage's.
    let shards: Int
    let shardRank: Int

    init(layout: StageLayout, transport: StageTransport, microBatches: Int, shards: Int = 1) {
        self.layout = layout
        stageTransport = transport
        self.microBatches = max(1, microBatches)
        self.shards = shards
        shardRank = transport.rank % shards
        super.init(transport: transport)
    }

    /// The job rank of this rank's counterpart in stage `stage`.
    func peer(_ stage: Int) -> Int { stage * shards + shardRank }

    override var sendsLogitRows: Bool { true }

    /// Rows per micro-batch for a step of `rows` rows: `microBatches` pieces of equal size, at most `maxChunk`.
    func microBatchRows(_ rows: Int, maxChunk: Int) -> Int {
        min(maxChunk, max(1, (rows + microBatches - 1) / microBatches))
    }

    func send(_ x: UnsafePointer<Float>, count: Int, to peer: Int) throws {
        try stageTransport.send(UnsafeRawBufferPointer(start: x, count: count * 4), to: peer)
    }

    func receive(_ x: UnsafeMutablePointer<Float>, count: Int, from peer: Int) throws {
        try stageTransport.receive(UnsafeMutableRawBufferPointer(start: x, count: count * 4), from: peer)
    }
}

extension Transformer {
    /// This rank's pipeline stage of the model (see `StageLayout`), for rank `transport.rank` of `transport.size`
    /// stages: a transformer over the stage's layers only (its KV caches hold only those) whose forward pass
    /// receives its input activations from the previous stage and sends its output to the next. Rank 0 runs it like
    /// any transformer (each `forward(batch:cache:)` first sends the batch to the other stages and returns the
    /// whole model's logits); the other ranks call `serveShard()`. The layers' matrices are shared with this
    /// transformer (no copy). `microBatches`: pieces a step's rows are cut into, so that stage k works on piece i
    /// while stage k+1 works on piece i-1 (default: one per stage).
    ///
    /// `tensorParallel`: the ranks of this rank's stage (a group of the job's, N per stage), over which the stage is
    /// split as `tensorParallelShard` splits a whole model (TP×PP).
    public func pipelineStage(
        transport: StageTransport, threads: Int, microBatches: Int? = nil, tensorParallel: ShardTransport? = nil
    ) throws -> Transformer {
        let stage = try Self.pipelineStage(
            config: config, weights: weights, owner: self, transport: transport, threads: threads,
            microBatches: microBatches, settings: settings, tensorParallel: tensorParallel)
        return stage
    }

    /// `fileShard`: the weights are already this rank's tensor-parallel slices (its own file of a
    /// `kiln build --tp N --pp M`).
    static func pipelineStage(
        config: ModelConfig, weights: ModelWeights, owner: AnyObject, transport: StageTransport, threads: Int,
        microBatches: Int?, settings: Settings, tensorParallel tp: ShardTransport? = nil,
        fileShard: ShardLayout? = nil
    ) throws -> Transformer {
        let shards = tp?.size ?? 1
        guard transport.size % shards == 0, (tp?.rank ?? 0) == transport.rank % shards else {
            throw ModelError(
                "pipeline parallel", "rank \(transport.rank) of \(transport.size) is not shard \(tp?.rank ?? 0) of \(shards) of a stage")
        }
        let layout = try StageLayout(
            stage: transport.rank / shards, stages: transport.size / shards, layerCount: config.layerCount)
        var c = config
        c.layerCount = layout.layers.count
        c.isSlidingLayer = Array(config.isSlidingLayer[layout.layers])
        var w = weights
        // A stage's own engine file binds only its layers already.
        if weights.layers.count == config.layerCount { w.layers = Array(weights.layers[layout.layers]) }
        var stage: Transformer
        if let fileShard, let tp {
            stage = Transformer.makeShard(
                config: c, layout: fileShard, weights: w, owner: owner, transport: tp, threads: threads,
                packOutput: transport.rank == 0)
            stage.settings = settings
        } else {
            // Only rank 0 computes logits (from the last stage's hidden states).
            stage = Transformer(config: c, weights: w, owner: owner, threads: threads, packOutput: transport.rank == 0)
            stage.settings = settings
            if let tp, shards > 1 { stage = try stage.tensorParallelShard(transport: tp, threads: threads) }
        }
        stage.stage = PipelineStage(
            layout: layout, transport: transport, microBatches: microBatches ?? layout.stages, shards: shards)
        return stage
    }

    /// This rank's stage, when the model is split into pipeline stages.
    public var stageLayout: StageLayout? { stage?.layout }

    /// One step's pieces through this stage, in order: stage 0 embeds each piece, later stages receive it from the
    /// previous one; every stage but the last sends its output on, the last keeps the final hidden states of the rows
    /// that want logits. A blocking send returns once the next stage has taken the piece, so stage k computes piece
    /// i+1 while stage k+1 computes piece i. The last stage sends the kept hidden states to rank 0 at the end of the
    /// step (never between pieces: rank 0 is then still sending, and two ranks sending to each other would wait
    /// forever), and rank 0 computes their logits. An exchange that fails leaves the step, recorded as the stage's
    /// failure (`end()` throws it).
    func runPipelined(
        _ pieces: [RowPlan], batch: [BatchChunk], cache: PagedKVCache, stage: PipelineStage, logits: inout [Float]
    ) {
        let l = stage.layout
        let d = config.hiddenSize
        let wanted = logits.count / config.vocabularySize
        let root = stage.transport.rank == 0
        guard l.stages > 1 else {
            for plan in pieces {
                forwardRows(plan, batch: batch, cache: cache, embed: true)
                outputLogits(plan, logits: &logits)
            }
            return
        }
        // [wanted, d]: the final hidden states of the rows that want logits, in logit order.
        var hidden = [Float](repeating: 0, count: (l.isLast && stage.shardRank == 0) || root ? wanted * d : 0)
        do {
            for plan in pieces {
                if !l.isFirst { try stage.receive(scratch.x, count: plan.count * d, from: stage.peer(l.stage - 1)) }
                forwardRows(plan, batch: batch, cache: cache, embed: l.isFirst)
                // A tensor-parallel exchange inside the stage that failed: the piece is lost.
                if let failure = shard?.failure { throw failure }
                if l.isLast {
                    guard stage.shardRank == 0 else { continue }
                    for (i, index) in plan.logitIndex.enumerated() where index >= 0 {
                        hidden.withUnsafeMutableBufferPointer {
                            ($0.baseAddress! + index * d).update(from: scratch.x + i * d, count: d)
                        }
                    }
                } else {
                    try stage.send(scratch.x, count: plan.count * d, to: stage.peer(l.stage + 1))
                }
            }
            // The hidden states travel from the last stage's first shard to rank 0 (the other shards hold the same).
            guard wanted > 0 else { return }
            if l.isLast, stage.shardRank == 0 {
                try hidden.withUnsafeBufferPointer { try stage.send($0.baseAddress!, count: $0.count, to: 0) }
            } else if root {
                try hidden.withUnsafeMutableBufferPointer {
                    try stage.receive($0.baseAddress!, count: $0.count, from: stage.peer(l.stages - 1))
                }
                // The final norm and the head, `maxChunk` rows at a time through the scratch rows.
                let vocab = config.vocabularySize
                var first = 0
                while first < wanted {
                    let n = min(maxChunk, wanted - first)
                    hidden.withUnsafeBufferPointer { scratch.x.update(from: $0.baseAddress! + first * d, count: n * d) }
                    logits.withUnsafeMutableBufferPointer { computeLogits(rows: 0..<n, into: $0.baseAddress! + first * vocab) }
                    first += n
                }
            }
        } catch {
            stage.failure = error
        }
    }
}

extension LoadedModel {
    /// This rank's pipeline stage of the model at `path`: only the stage's layers are bound and packed (and only
    /// rank 0's output head), so a rank's memory holds its share of the weights; the rest of the file is
    /// mapped but never read. `path` may be the rank's own file of a `kiln build --pp M` or `--tp N --pp M` (then
    /// nothing else is mapped at all; `rankFile` names it).
    public static func loadStage(
        _ path: String, transport: StageTransport, threads: Int, microBatches: Int? = nil,
        tensorParallel: ShardTransport? = nil
    ) throws -> LoadedModel {
        try load(path) { source in
            let shards = tensorParallel?.size ?? 1
            var fileShard: ShardLayout?
            let (config, weights, owner) = try ModelLoader.parts(source)
            if case .engine(let engine) = source {
                try engine.metadata.checkRank(
                    transport.rank, shards: shards, stages: transport.size / shards, path: path, slicesAtLoad: true)
                fileShard = try engine.metadata.shard.map { try ShardLayout(config: config, recorded: $0, path: path) }
                // Rank 0 computes the logits: its file must hold the final norm (files of an older build keep it on
                // the last stage).
                if transport.rank == 0, engine.metadata.stage != nil, engine.tensor("output_norm.weight") == nil {
                    throw ModelError(
                        path,
                        "rank 0's file lacks the final norm and output head (an older build kept them on the last stage); rebuild the rank files with kiln build")
                }
            }
            let stage = try Transformer.pipelineStage(
                config: config, weights: weights, owner: owner, transport: transport, threads: threads,
                microBatches: microBatches, settings: Transformer.Settings(), tensorParallel: tensorParallel, fileShard: fileShard)
            try ModelLoader.applyBuildDefaults(source, to: stage)
            return stage
        }
    }
}
