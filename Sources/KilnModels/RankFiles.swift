import Foundation
import KilnFormats

extension EngineMetadata {
    /// Refuses this file for rank `rank` of a job of `shards` tensor-parallel ranks per stage and `stages` pipeline
    /// stages unless it is that rank's file (or a whole model). `slicesAtLoad`: a stage file without a
    /// tensor-parallel slice may serve every shard of its stage (each slices it at load).
    func checkRank(_ rank: Int, shards: Int, stages: Int, path: String, slicesAtLoad: Bool) throws {
        guard let what = rankDescription, let how = servingHint(path) else { return }
        let fileShards = shard?.shards ?? 1
        let fileStages = stage?.stages ?? 1
        let job =
            [shards > 1 ? "--tensor-parallel \(shards)" : nil, stages > 1 ? "--pipeline-parallel \(stages)" : nil]
            .compactMap { $0 }.joined(separator: " ")
        guard fileStages == stages, fileShards == shards || (shard == nil && slicesAtLoad) else {
            throw ModelError(
                path,
                "this file is \(what), but this job runs \(job.isEmpty ? "one process" : job) (\(shards * stages) ranks); \(how), or rebuild for this job with kiln build --tp \(shards)\(stages > 1 ? " --pp \(stages)" : "")"
            )
        }
        let (myShard, myStage) = (rank % shards, rank / shards)
        guard stage?.stage ?? 0 == myStage, shard == nil || shard!.shard == myShard else {
            let own = shard == nil ? myStage : rank
            throw ModelError(
                path,
                "this file is \(what); rank \(rank) needs its own, \(EngineStage.path(path, forRank: own)) (give any rank's file: each rank loads its own)"
            )
        }
    }
}

extension LoadedModel {
    /// The file rank `rank` loads when the job was given `path`: a name ending in `.rankK-of-R.kiln` (a
    /// `kiln build --tp N --pp M` set of R = N×M files, or a `--pp M` set of R = M stage files that every shard of
    /// a stage shares) names every rank's file; anything else is loaded by every rank.
    public static func rankFile(_ path: String, rank: Int, shards: Int, stages: Int) -> String {
        guard let files = EngineStage.rankCount(path) else { return path }
        if files == shards * stages { return EngineStage.path(path, forRank: rank) }
        if files == stages { return EngineStage.path(path, forRank: rank / shards) }
        return path
    }

    /// This rank's tensor-parallel shard of the model at `path`: a whole model sliced at load, or the rank's own
    /// file of a `kiln build --tp N` (only its slices are mapped and packed; only rank 0, which computes the logits,
    /// packs the output head).
    public static func loadShard(_ path: String, transport: ShardTransport, threads: Int, keepWhole: Bool = false) throws
        -> LoadedModel
    {
        try load(path) { source in
            guard case .engine(let engine) = source, engine.metadata.rankDescription != nil else {
                return try ModelLoader.transformer(source, threads: threads)
                    .tensorParallelShard(transport: transport, threads: threads, keepWhole: keepWhole)
            }
            try engine.metadata.checkRank(transport.rank, shards: transport.size, stages: 1, path: path, slicesAtLoad: false)
            let (config, weights, owner) = try ModelLoader.parts(source)
            let layout = try ShardLayout(config: config, recorded: engine.metadata.shard!, path: path)
            let shard = Transformer.makeShard(
                config: config, layout: layout, weights: weights, owner: owner, transport: transport, threads: threads,
                packOutput: transport.rank == 0)
            try ModelLoader.applyBuildDefaults(source, to: shard)
            return shard
        }
    }
}
