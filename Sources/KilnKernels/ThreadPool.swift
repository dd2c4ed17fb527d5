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
    /// The next chunk of a `parallelChunks` loop.
    private let cursor = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var threads: [pthread_t] = []
    /// Spin iterations before a worker parks (~50–100 µs).
    private let spinLimit = 40_000

    /// - Parameter threads: total threads including the caller's; 1 runs everything inline.
    public init(threads: Int) {
        threadCount = max(1, threads)
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

    /// Like `parallelFor`, but the threads take chunks of `0..<count` (about an eighth of a thread's share, rounded
    /// to `granularity`) from a shared counter until none is left, so a thread that the OS delays or that meets
    /// slower chunks does not hold the others at the join. `body(range, thread)` may run several times on one
    /// thread; which thread runs a chunk varies from call to call.
    public func parallelChunks(_ count: Int, granularity: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let n = threadCount
        if n == 1 || count <= granularity {
            body(0..<count, 0)
            return
        }
        let units = (count + granularity - 1) / granularity
        let chunkUnits = max(1, units / (8 * n))
        let chunks = (units + chunkUnits - 1) / chunkUnits
        cursor.store(0, ordering: .relaxed)  // published to the workers by run's generation bump
        run { thread in
            while true {
                let c = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
                if c >= chunks { break }
                let lo = c * chunkUnits * granularity
                let hi = min(count, (c + 1) * chunkUnits * granularity)
                body(lo..<hi, thread)
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
