import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A persistent pool of OS threads owned by Kiln for the compute of one forward pass.
///
/// Why not Dispatch: a fork-join through `concurrentPerform` costs ~45 µs on these VMs (waking an idle vCPU),
/// which is as long as a whole small matvec. Workers here spin on a generation counter for a bounded time after
/// each job (a fork then costs well under a microsecond), and park on a condition variable once idle, so an idle
/// server does not burn a core and an oversubscribed machine does not starve (cpu-kernels.md, "Threading").
///
/// `run` is not reentrant and must be called from one thread at a time (the engine's compute thread).
public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// One word per thread's share of a `parallelChunks` loop, each on its own cache line: the share's next chunk
    /// from the front (low 32 bits, taken by its owner) and its end (high 32 bits, taken from by other threads).
    private let shares: UnsafeMutablePointer<Atomic<Int>>
    private static let shareStride = 8  // words: 64 bytes
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []
    /// Spin iterations before a worker parks (~50–100 µs).
    private let spinLimit = 40_000

    /// - Parameter threads: total threads including the caller's; 1 runs everything inline.
    public init(threads: Int) {
        threadCount = max(1, threads)
        shares = UnsafeMutableRawPointer.allocate(byteCount: threadCount * Self.shareStride * 8, alignment: 64)
            .bindMemory(to: Atomic<Int>.self, capacity: threadCount * Self.shareStride)
        for i in 0..<(threadCount * Self.shareStride) { (shares + i).initialize(to: Atomic(0)) }
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for worker in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: worker))
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, nil,
                { raw in
                    let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    context.pool.workerLoop(context.index)
                    return nil
                }, context.toOpaque())
            if rc == 0 { self.threads.append(thread) } else { context.release() }
        }
    }

    deinit {
        stopping.store(true, ordering: .releasing)
        pthread_mutex_lock(mutex)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
        shares.deinitialize(count: threadCount * Self.shareStride)
        shares.deallocate()
    }

    /// Calls `body(i)` once for each thread index `i` in `0..<threadCount`, in parallel, and returns when all are done.
    public func run(_ body: (Int) -> Void) {
        let workers = threads.count
        if workers == 0 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            pending.store(workers, ordering: .relaxed)
            pthread_mutex_lock(mutex)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
            escapable(0)
            var spins = 0
            while pending.load(ordering: .acquiring) != 0 {
                spins &+= 1
                if spins > spinLimit { sched_yield() }
            }
            job = nil
        }
    }

    /// Splits `0..<count` into one contiguous chunk per thread (chunks rounded to `granularity`) and calls
    /// `body(range, thread)` for each non-empty chunk in parallel.
    public func parallelFor(_ count: Int, granularity: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let n = threadCount
        if n == 1 || count <= granularity {
            body(0..<count, 0)
            return
        }
        let units = (count + granularity - 1) / granularity
        run { i in
            let lo = min(count, (units * i / n) * granularity)
            let hi = min(count, (units * (i + 1) / n) * granularity)
            if lo < hi { body(lo..<hi, i) }
        }
    }

    /// Like `parallelFor`, but with load balancing: each thread owns a contiguous share of `0..<count` (as in
    /// `parallelFor`) cut into chunks of about an eighth of it (rounded to `granularity`), and takes its chunks in
    /// order from the front; a thread whose share is done takes the other shares' chunks from their back. A thread
    /// that the OS delays or that meets slower rows thus does not hold the others at the join, while each thread
    /// still streams one contiguous run of rows (what decode's matrix-vector products read fastest: a new run
    /// per chunk restarts the hardware prefetcher). `body(range, thread)` may run several times on one thread;
    /// which thread runs a chunk varies from call to call.
    public func parallelChunks(_ count: Int, granularity: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let n = threadCount
        if n == 1 || count <= granularity {
            body(0..<count, 0)
            return
        }
        let units = (count + granularity - 1) / granularity
        let chunkUnits = max(1, units / (8 * n))
        // Share s covers units [units·s/n, units·(s+1)/n): chunks 0..<chunks(s) of chunkUnits each (the last shorter).
        for s in 0..<n {
            let shareUnits = units * (s + 1) / n - units * s / n
            let chunks = (shareUnits + chunkUnits - 1) / chunkUnits
            shares[s * Self.shareStride].store(chunks << 32, ordering: .relaxed)  // published by run's generation bump
        }
        let shares = self.shares
        run { thread in
            for step in 0..<n {
                let s = (thread + step) % n
                let first = units * s / n
                let end = units * (s + 1) / n
                let word = shares + s * Self.shareStride
                while true {
                    // Take chunk `front` (own share) or `back - 1` (another's) while front < back.
                    var old = word.pointee.load(ordering: .relaxed)
                    var chunk = -1
                    while true {
                        let front = old & 0xFFFF_FFFF
                        let back = old >> 32
                        if front >= back { break }
                        let new = step == 0 ? old + 1 : old - (1 << 32)
                        let (done, seen) = word.pointee.compareExchange(
                            expected: old, desired: new, ordering: .relaxed)
                        if done {
                            chunk = step == 0 ? front : back - 1
                            break
                        }
                        old = seen
                    }
                    if chunk < 0 { break }
                    let lo = first + chunk * chunkUnits
                    let hi = min(end, lo + chunkUnits)
                    body(lo * granularity..<min(count, hi * granularity), thread)
                }
            }
        }
    }

    fileprivate func workerLoop(_ index: Int) {
        var seen = 0  // workers start before the first job; generation starts at 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins &+= 1
                if spins > spinLimit {
                    pthread_mutex_lock(mutex)
                    while generation.load(ordering: .acquiring) == seen {
                        pthread_cond_wait(condition, mutex)
                    }
                    pthread_mutex_unlock(mutex)
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            job?(index)
            pending.subtract(1, ordering: .releasing)
        }
    }
}

private final class WorkerContext {
    let pool: ThreadPool
    let index: Int
    init(pool: ThreadPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
