import ArgumentParser
import Foundation
import KilnModels
import KilnParallel
import KilnServer
import Synchronization

/// `--tensor-parallel N` (TGI's `--num-shard`): the options every multi-rank command shares.
struct ParallelOptions: ParsableArguments {
    @Option(
        name: [.customLong("tensor-parallel"), .customLong("num-shard")],
        help: """
            Split the model over N processes launched by `mpirun --enable-recovery -np N` (needs a kiln built with \
            --traits MPI); rank 0 serves, the others compute their shard (default 1: no MPI).
            """)
    var tensorParallel: Int = 1

    @Option(help: "Pipeline stages (only 1 is supported: layers are not split yet).")
    var pipelineParallel: Int = 1

    @Option(help: "Seconds a rank may wait for the others in one exchange before the group is declared failed.")
    var rankTimeout: Double = 30

    func validate() throws {
        guard tensorParallel >= 1 else { throw ValidationError("--tensor-parallel must be at least 1") }
        guard pipelineParallel == 1 else {
            throw ValidationError("--pipeline-parallel: only 1 stage is supported in this version")
        }
        guard rankTimeout > 0 else { throw ValidationError("--rank-timeout must be positive") }
    }

    /// The rank group when --tensor-parallel > 1: MPI initialized and its size checked against the flag.
    func join() throws -> ParallelGroup? {
        guard tensorParallel > 1 else { return nil }
        guard Communicator.isAvailable else {
            printError(
                "error: --tensor-parallel \(tensorParallel): this kiln was built without MPI; rebuild with `--traits MPI` (needs Open MPI: apt-get install libopenmpi-dev openmpi-bin)")
            throw ExitCode(1)
        }
        let world = try reportingErrors { try Communicator.world(timeout: rankTimeout) }
        guard world.size == tensorParallel else {
            printError(
                "error: --tensor-parallel \(tensorParallel) needs exactly \(tensorParallel) ranks; this job has \(world.size) (launch with mpirun -np \(tensorParallel))")
            world.finalize()
            throw ExitCode(1)
        }
        return ParallelGroup(world: world)
    }
}

/// KilnModels' view of the MPI job. A worker waiting for its next step may wait its timeout plus the heartbeat
/// period (rank 0 pings every second while idle).
final class MPITransport: ShardTransport, @unchecked Sendable {
    let world: Communicator
    init(_ world: Communicator) { self.world = world }
    var rank: Int { world.rank }
    var size: Int { world.size }
    func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int) throws { try world.allReduceSum(x, count: count) }
    func broadcast(_ words: inout [Int64], idle: Bool) throws {
        try world.broadcast(words: &words, root: 0, timeout: idle ? world.timeout + 5 : nil)
    }
}

/// One process's place in a tensor-parallel job: how it agrees with the others on what to load, shards the model,
/// and (rank 0) watches the workers.
final class ParallelGroup: @unchecked Sendable {
    let world: Communicator
    let transport: MPITransport
    /// Loading and building an engine may take minutes; the group waits that long at its rendezvous points.
    static let loadTimeout = 900.0
    private var heartbeat: Thread?
    /// Rank 0's shard once loaded (to stop the workers at exit).
    let root = Mutex<Transformer?>(nil)
    private let stopping = NSLock()
    private var stopped = false

    init(world: Communicator) {
        self.world = world
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

    /// This rank's shard of `model`; returns once every rank has its shard.
    func shard(_ model: LoadedModel, threads: Int) throws -> LoadedModel {
        let sharded = try model.tensorParallelShard(transport: transport, threads: threads)
        printError("tensor parallel: \(sharded.transformer.shardLayout.map { "\($0)" } ?? "")")
        try world.barrier(timeout: Self.loadTimeout)
        return sharded
    }

    /// A worker's life after loading: serve steps until rank 0 stops the group or is lost.
    func runWorker(modelPath: String, threads: Int, precision: Precision, resolve: (String) -> String) throws {
        let path = try agreeOnPath(modelPath, resolve: resolve)
        let model = try shard(LoadedModel.load(path, threads: threads), threads: threads)
        model.transformer.precision = precision
        do {
            try model.transformer.serveShard()
        } catch {
            printError("error: tensor parallel rank \(world.rank): \(error)")
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
                    if !isStopped { onFailure("tensor-parallel group failed: \(error)") }
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
            do { _ = try agreeOnPath(resolved, resolve: { _ in resolved }) } catch { printError("tensor parallel: \(error)") }
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
