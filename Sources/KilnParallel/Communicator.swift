import Foundation

#if MPI
import CMPI
#endif

/// A failed or timed-out collective, or MPI missing from this build. Once a communicator has failed it stays
/// failed: every later call throws the first error (a peer that died cannot rejoin a running job).
public struct ParallelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    static let notBuilt = ParallelError(
        "this kiln was built without MPI: rebuild with `--traits MPI` (needs Open MPI, e.g. apt-get install libopenmpi-dev openmpi-bin)")
}

/// The ranks of one MPI job (MPI_COMM_WORLD) with the few operations tensor parallelism needs: broadcast,
/// all-reduce of floats, point-to-point send and receive, barrier.
///
/// Every operation is started non-blocking and polled against a deadline, so a peer that died or hangs makes the
/// call throw after `timeout` seconds instead of blocking forever (MPI's blocking calls never return then). Calls
/// are serialized by a lock (MPI is initialized with MPI_THREAD_SERIALIZED), so any thread may use it, one at a
/// time.
public final class Communicator: @unchecked Sendable {
    /// Whether this build links Open MPI (the `MPI` package trait).
    public static var isAvailable: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }

    /// The job size mpirun announced in the environment, without initializing MPI (nil outside mpirun).
    public static var launchedSize: Int? {
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_SIZE"] ?? env["PMI_SIZE"]).flatMap { Int($0) }
    }

    /// The job's rank of this process as mpirun announced it (nil outside mpirun).
    public static var launchedRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_RANK"] ?? env["PMI_RANK"]).flatMap { Int($0) }
    }

    public let rank: Int
    public let size: Int
    /// Seconds an operation may wait for its peers before the communicator is declared failed.
    public var timeout: Double
    /// Shared with the communicators split from this one: MPI is initialized MPI_THREAD_SERIALIZED, so no two of
    /// them may be inside MPI at once.
    private let lock: NSLock
    /// MPI_COMM_WORLD or a group split from it (`split`); nil in a build without MPI.
    private let handle: OpaquePointer?
    private var failed: ParallelError?
    private var finalized = false
    private var counters = Traffic()

    /// Bytes this rank handed to MPI and how many operations, by kind (payload only; for per-token accounting).
    public struct Traffic: Sendable, Equatable {
        public var allReduceBytes = 0
        public var allReduces = 0
        public var broadcastBytes = 0
        public var broadcasts = 0
        public var sentBytes = 0
        public var receivedBytes = 0
        /// Seconds spent inside operations (waiting for peers included).
        public var seconds = 0.0
        public var total: Int { allReduceBytes + broadcastBytes + sentBytes + receivedBytes }
    }

    public var traffic: Traffic {
        lock.lock()
        defer { lock.unlock() }
        return counters
    }

    /// The first error, once an operation has failed or timed out.
    public var failure: ParallelError? {
        lock.lock()
        defer { lock.unlock() }
        return failed
    }

    nonisolated(unsafe) private static var shared: Communicator?
    private static let sharedLock = NSLock()

    /// MPI_COMM_WORLD, initializing MPI on first use (a process started without mpirun is a job of one).
    public static func world(timeout: Double = 30) throws(ParallelError) -> Communicator {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let shared { return shared }
        #if MPI
        var provided: Int32 = 0
        let rc = MPI_Init_thread(nil, nil, kiln_mpi_thread_serialized(), &provided)
        guard rc == MPI_SUCCESS else { throw ParallelError("MPI_Init_thread failed: \(errorString(rc))") }
        guard provided >= kiln_mpi_thread_serialized() else {
            throw ParallelError("this Open MPI gives thread level \(provided); kiln needs MPI_THREAD_SERIALIZED")
        }
        // Errors come back as return codes instead of aborting the whole job, so a lost peer is reported.
        MPI_Comm_set_errhandler(kiln_mpi_comm_world(), kiln_mpi_errors_return())
        var rank: Int32 = 0
        var size: Int32 = 0
        MPI_Comm_rank(kiln_mpi_comm_world(), &rank)
        MPI_Comm_size(kiln_mpi_comm_world(), &size)
        let world = Communicator(
            rank: Int(rank), size: Int(size), timeout: timeout, handle: kiln_mpi_comm_world(), lock: NSLock())
        shared = world
        return world
        #else
        throw ParallelError.notBuilt
        #endif
    }

    private init(rank: Int, size: Int, timeout: Double, handle: OpaquePointer?, lock: NSLock) {
        self.rank = rank
        self.size = size
        self.timeout = timeout
        self.handle = handle
        self.lock = lock
    }

    /// The ranks of this communicator that pass the same `color`, as a communicator of their own, ordered by this
    /// communicator's rank (MPI_Comm_split; every rank must call it). Shares this one's lock and timeout.
    public func split(color: Int) throws(ParallelError) -> Communicator {
        #if MPI
        lock.lock()
        defer { lock.unlock() }
        var group: MPI_Comm? = nil
        let rc = MPI_Comm_split(handle, Int32(color), Int32(rank), &group)
        guard rc == MPI_SUCCESS, let group else { throw ParallelError("rank \(rank): MPI_Comm_split failed: \(Self.errorString(rc))") }
        MPI_Comm_set_errhandler(group, kiln_mpi_errors_return())
        var r: Int32 = 0
        var n: Int32 = 0
        MPI_Comm_rank(group, &r)
        MPI_Comm_size(group, &n)
        let sub = Communicator(rank: Int(r), size: Int(n), timeout: timeout, handle: group, lock: lock)
        sub.isGroup = true
        return sub
        #else
        throw ParallelError.notBuilt
        #endif
    }

    /// A communicator from `split` (whose `finalize` leaves MPI to the world's).
    private var isGroup = false

    /// Waits until every rank has called it.
    public func barrier(timeout: Double? = nil) throws(ParallelError) {
        #if MPI
        try operation("barrier", timeout: timeout) { request in
            MPI_Ibarrier(handle, request)
        }
        #else
        throw ParallelError.notBuilt
        #endif
    }

    /// Root's `buffer` into every other rank's `buffer` (all ranks pass the same byte count).
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int = 0, timeout: Double? = nil) throws(ParallelError) {
        #if MPI
        try operation("broadcast of \(buffer.count) bytes from rank \(root)", timeout: timeout) { request in
            MPI_Ibcast(buffer.baseAddress, Int32(buffer.count), kiln_mpi_byte(), Int32(root), handle, request)
        }
        lock.lock()
        counters.broadcasts += 1
        if rank == root { counters.broadcastBytes += buffer.count * (size - 1) }
        lock.unlock()
        #else
        throw ParallelError.notBuilt
        #endif
    }

    /// Root's `words` into every rank's `words`, whatever length the others passed (length first, then data).
    public func broadcast(words: inout [Int64], root: Int = 0, timeout: Double? = nil) throws(ParallelError) {
        var count = Int64(words.count)
        try withUnsafeMutableBytes(of: &count) { (p) throws(ParallelError) in try broadcast(p, root: root, timeout: timeout) }
        if rank != root { words = [Int64](repeating: 0, count: Int(count)) }
        guard count > 0 else { return }
        // A typed throw cannot cross withUnsafeMutableBytes's rethrows; carry it out in a Result.
        var result: Result<Void, ParallelError> = .success(())
        words.withUnsafeMutableBytes { p in
            do throws(ParallelError) { try broadcast(p, root: root, timeout: timeout) } catch { result = .failure(error) }
        }
        try result.get()
    }

    /// x[i] = Σ over ranks of x[i], in place on every rank.
    public func allReduceSum(_ x: UnsafeMutablePointer<Float>, count: Int, timeout: Double? = nil) throws(ParallelError) {
        #if MPI
        try operation("all-reduce of \(count) floats", timeout: timeout) { request in
            MPI_Iallreduce(
                kiln_mpi_in_place(), x, Int32(count), kiln_mpi_float(), kiln_mpi_sum(), handle, request)
        }
        lock.lock()
        counters.allReduces += 1
        counters.allReduceBytes += count * 4
        lock.unlock()
        #else
        throw ParallelError.notBuilt
        #endif
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to peer: Int, tag: Int = 0, timeout: Double? = nil) throws(ParallelError) {
        #if MPI
        try operation("send of \(bytes.count) bytes to rank \(peer)", timeout: timeout) { request in
            MPI_Isend(bytes.baseAddress, Int32(bytes.count), kiln_mpi_byte(), Int32(peer), Int32(tag), handle, request)
        }
        lock.lock()
        counters.sentBytes += bytes.count
        lock.unlock()
        #else
        throw ParallelError.notBuilt
        #endif
    }

    public func receive(_ bytes: UnsafeMutableRawBufferPointer, from peer: Int, tag: Int = 0, timeout: Double? = nil) throws(ParallelError) {
        #if MPI
        try operation("receive of \(bytes.count) bytes from rank \(peer)", timeout: timeout) { request in
            MPI_Irecv(bytes.baseAddress, Int32(bytes.count), kiln_mpi_byte(), Int32(peer), Int32(tag), handle, request)
        }
        lock.lock()
        counters.receivedBytes += bytes.count
        lock.unlock()
        #else
        throw ParallelError.notBuilt
        #endif
    }

    /// Marks the communicator failed (a peer reported lost by other means); later calls throw `error`.
    public func fail(_ error: ParallelError) {
        lock.lock()
        if failed == nil { failed = error }
        lock.unlock()
    }

    /// Ends MPI for this process. Skipped after a failure: MPI_Finalize waits for peers that may be gone.
    public func finalize() {
        #if MPI
        lock.lock()
        defer { lock.unlock() }
        guard !finalized, failed == nil else { return }
        finalized = true
        if !isGroup { MPI_Finalize() }
        #endif
    }

    #if MPI
    /// Starts one non-blocking operation and polls it until done, error or deadline. Polling spins for the first
    /// milliseconds (a forward pass's all-reduces complete in microseconds), then yields, then sleeps between tests
    /// so an idle rank leaves its core to the others.
    private func operation(
        _ what: String, timeout: Double?, start: (UnsafeMutablePointer<MPI_Request?>) -> Int32
    ) throws(ParallelError) {
        lock.lock()
        defer { lock.unlock() }
        if let failed { throw failed }
        guard !finalized else { throw ParallelError("rank \(rank): MPI is already finalized") }
        var request = kiln_mpi_request_null()
        let rc = start(&request)
        guard rc == MPI_SUCCESS else { throw record("rank \(rank): \(what) failed: \(Self.errorString(rc))") }
        let limit = timeout ?? self.timeout
        let begin = DispatchTime.now().uptimeNanoseconds
        var polls = 0
        while true {
            var done: Int32 = 0
            let rc = MPI_Test(&request, &done, kiln_mpi_status_ignore())
            guard rc == MPI_SUCCESS else { throw record("rank \(rank): \(what) failed: \(Self.errorString(rc))") }
            if done != 0 {
                counters.seconds += Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
                return
            }
            polls += 1
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
            if elapsed > limit {
                throw record(
                    "rank \(rank): \(what) did not complete within \(limit) s (a peer died or hangs)")
            }
            if elapsed < Self.spinSeconds {
                continue
            } else if elapsed < 0.005 {
                sched_yield()
            } else {
                usleep(elapsed < 0.05 ? 50 : 500)
            }
        }
    }

    /// Seconds a wait polls without giving up its core (KILN_MPI_SPIN_US, default 2000 µs): a forward pass's
    /// all-reduces finish within microseconds when both ranks run, and a yield on a busy machine may cost a whole
    /// time slice.
    static let spinSeconds: Double = {
        let us = ProcessInfo.processInfo.environment["KILN_MPI_SPIN_US"].flatMap { Double($0) } ?? 2000
        return us / 1e6
    }()

    private func record(_ message: String) -> ParallelError {
        let error = ParallelError(message)
        if failed == nil { failed = error }
        return failed!
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    #endif
}
