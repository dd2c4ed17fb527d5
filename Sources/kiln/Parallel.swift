import ArgumentParser
import Foundation
import KilnFormats
import KilnModels
import KilnParallel
import KilnServer
import Synchronization

/// `--tensor-parallel N` (TGI's `--num-shard`) and `--pipeline-parallel M`: the options every multi-rank command
/// shares.
struct ParallelOptions: ParsableArguments {
    @Option(
        name: [.customLong("tensor-parallel"), .customLong("num-shard")],
        help: """
            Split the model over N processes launched by `mpirun --enable-recovery -np N` (needs a kiln built with \
            --traits MPI); rank 0 serves, the others compute their shard (default 1: no MPI).
            """)
    var tensorParallel: Int = 1

    @Option(
        help: """
            Split the layers into M contiguous stages, one per process, launched by `mpirun --enable-recovery -np M` \
            (needs a kiln built with --traits MPI); rank 0 embeds, schedules and serves, the last rank computes the \
            logits (default 1: no MPI). With --tensor-parallel N: N ranks per stage, mpirun -np N×M.
            """)
    var pipelineParallel: Int = 1

    @Option(help: "Micro-batches a pipeline step's rows are cut into (default: one per stage).")
    var microBatches: Int?

    @Option(help: "Seconds a rank may wait for the others in one exchange before the group is declared failed.")
    var rankTimeout: Double = 30

    func validate() throws {
        guard tensorParallel >= 1 else { throw ValidationError("--tensor-parallel must be at least 1") }
        guard pipelineParallel >= 1 else { throw ValidationError("--pipeline-parallel must be at least 1") }
        if let microBatches, microBatches < 1 { throw ValidationError("--micro-batches must be at least 1") }
        guard rankTimeout > 0 else { throw ValidationError("--rank-timeout must be positive") }
    }

    /// The rank group when --tensor-parallel or --pipeline-parallel > 1: MPI initialized and its size checked
    /// against the flags.
    func join() throws -> ParallelGroup? {
        let ranks = tensorParallel * pipelineParallel
        guard ranks > 1 else { return nil }
        let flag = [
            tensorParallel > 1 ? "--tensor-parallel \(tensorParallel)" : nil,
            pipelineParallel > 1 ? "--pipeline-parallel \(pipelineParallel)" : nil,
        ].compactMap { $0 }.joined(separator: " ")
        guard Communicator.isAvailable else {
            printError(
                "error: \(flag): this kiln was built without MPI; rebuild with `--traits MPI` (needs Open MPI: apt-get install libopenmpi-dev openmpi-bin)")
            throw ExitCode(1)
        }
        let world = try reportingErrors { try Communicator.world(timeout: rankTimeout) }
        guard world.size == ranks else {
            printError(
                "error: \(flag) needs exactly \(ranks) ranks; this job has \(world.size) (launch with mpirun -np \(ranks))")
            world.finalize()
            throw ExitCode(1)
        }
        // TP×PP: each stage's ranks (stage-major: rank = stage × N + shard) form a group for their all-reduces.
        let tensor =
            pipelineParallel > 1 && tensorParallel > 1
            ? try reportingErrors { try world.split(color: world.rank / tensorParallel) } : nil
        return ParallelGroup(world: world, stages: pipelineParallel, microBatches: microBatches, tensor: tensor)
    }
}

/// KilnModels' view of the MPI job. A worker waiting for its next step may wait its timeout plus the heartbeat
/// period (rank 0 pings every second while idle).
final class MPITransport: StageTransport, @unchecked Sendable {
    let world: Communicator
    init(_ world: Communicator) { self.world = world }
    var rank: Int { world.rank }
    var size: Int { world.size }
    func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int) throws { try world.allReduceSum(x, count: count) }
    func broadcast(_ words: inout [Int64], idle: Bool) throws {
        try world.broadcast(words: &words, root: 0, timeout: idle ? world.timeout + 5 : nil)
    }
    func send(_ bytes: UnsafeRawBufferPointer, to peer: Int) throws { try world.send(bytes, to: peer) }
    func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int) throws { try world.receive(bytes, from: peer) }
}

/// One process's place in a tensor- or pipeline-parallel job: how it agrees with the others on what to load, takes
/// its part of the model, and (rank 0) watches the workers.
final class ParallelGroup: @unchecked Sendable {
    let world: Communicator
    let transport: MPITransport
    /// Pipeline stages (1: tensor parallel over all ranks).
    let stages: Int
    let microBatches: Int?
    /// TP×PP: the group of this rank's stage, over which the stage is split tensor-parallel.
    let tensor: MPITransport?
    var kind: String { stages > 1 ? "pipeline parallel" : "tensor parallel" }
    /// Loading and building an engine may take minutes; the group waits that long at its rendezvous points.
    static let loadTimeout = 900.0
    private var heartbeat: Thread?
    /// Rank 0's shard once loaded (to stop the workers at exit).
    let root = Mutex<Transformer?>(nil)
    private let stopping = NSLock()
    private var stopped = false

    init(world: Communicator, stages: Int = 1, microBatches: Int? = nil, tensor: Communicator? = nil) {
        self.world = world
        self.stages = stages
        self.microBatches = microBatches
        self.tensor = tensor.map(MPITransport.init)
        transport = MPITransport(world)
    }

    var isRoot: Bool { world.rank == 0 }

    /// Rank 0 resolves the model path (building the cached engine when needed) and sends the result; the workers
    /// load exactly that file (hosts must share the path).
    func agreeOnPath(_ path: String, resolve: (String) -> String) throws -> String {
        var words: [Int64] = []
        if isRoot { words = Array(resolve(path).utf8).map { Int64($0) } }
        try world.broadcast(words: &words, root: 0, timeout: Self.loadTimeout)
        return String(decoding: words.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }

    /// This rank's part of the model (loaded as such by `load`); returns once every rank has its part.
    func shard(_ model: LoadedModel, threads: Int) throws -> LoadedModel {
        let sharded = model
        let t = sharded.transformer
        printError("\(kind): " + [t.stageLayout.map { "\($0)" }, t.shardLayout.map { "\($0)" }].compactMap { $0 }.joined(separator: "; "))
        try world.barrier(timeout: Self.loadTimeout)
        return sharded
    }

    /// Loads the model at `path` as this rank needs it: a pipeline stage binds and packs only its own layers, a
    /// tensor-parallel shard only its slices. A path ending in `.rankK-of-R.kiln` (`kiln build --tp N --pp M`, or
    /// `--pp M` stage files shared by a stage's shards) names every rank's file: each rank loads its own.
    func load(_ path: String, threads: Int) throws -> LoadedModel {
        let shards = stages > 1 ? (tensor?.size ?? 1) : world.size
        let file = LoadedModel.rankFile(path, rank: world.rank, shards: shards, stages: stages)
        guard stages > 1 else { return try LoadedModel.loadShard(file, transport: transport, threads: threads) }
        return try LoadedModel.loadStage(
            file, transport: transport, threads: threads, microBatches: microBatches, tensorParallel: tensor)
    }

    /// A worker's life after loading: serve steps until rank 0 stops the group or is lost.
    func runWorker(modelPath: String, threads: Int, precision: Precision, resolve: (String) -> String) throws {
        let path = try agreeOnPath(modelPath, resolve: resolve)
        let model = try shard(load(path, threads: threads), threads: threads)
        model.transformer.precision = precision
        do {
            try model.transformer.serveShard()
        } catch {
            printError("error: \(kind) rank \(world.rank): \(error)")
            throw ExitCode(1)
        }
        world.finalize()
    }

    /// Rank 0: every half second while no step runs, checks that the workers answer; the first failure (of a
    /// heartbeat or of a step) goes to `onFailure` once.
    func watch(_ transformer: Transformer, onFailure: @escaping @Sendable (String) -> Void) {
        let thread = Thread { [self] in
            while !isStopped {
                Thread.sleep(forTimeInterval: 0.5)
                if isStopped { return }
                do {
                    if let failure = transformer.shardFailure { throw failure }
                    try transformer.shardHeartbeat(idle: 1)
                } catch {
                    if !isStopped { onFailure("\(kind.replacingOccurrences(of: " ", with: "-")) group failed: \(error)") }
                    return
                }
            }
        }
        thread.name = "kiln-heartbeat"
        heartbeat = thread
        thread.start()
    }

    private var isStopped: Bool {
        stopping.lock()
        defer { stopping.unlock() }
        return stopped
    }

    /// Rank 0 at exit: releases the workers and ends MPI (skipped when a rank was lost: it would wait for it).
    func shutdown() {
        stopping.lock()
        stopped = true
        stopping.unlock()
        root.withLock { $0 }?.stopShards()
        world.finalize()
    }
}

extension ParallelGroup {
    /// Rank 0's model path for `kiln serve`: resolved as usual, then sent to the workers so they load the same file.
    func rootResolve(_ resolve: @escaping @Sendable (String) -> String) -> @Sendable (String) -> String {
        { [self] path in
            let resolved = resolve(path)
            do { _ = try agreeOnPath(resolved, resolve: { _ in resolved }) } catch { printError("\(kind): \(error)") }
            return resolved
        }
    }

    /// Rank 0's engine runs its shard, and the server turns unhealthy (503 on /health, errors on requests) as soon
    /// as a worker is lost.
    func rootPrepare(state: ServerState, threads: Int, log: @escaping @Sendable (String) -> Void)
        -> @Sendable (LoadedModel) throws -> LoadedModel
    {
        { [self] model in
            let sharded = try shard(model, threads: threads)
            root.withLock { $0 = sharded.transformer }
            watch(sharded.transformer) { message in
                log(message)
                state.fail(message)
            }
            return sharded
        }
    }
}
