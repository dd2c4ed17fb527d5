import Foundation
import Synchronization

/// How requests are sent: all at once or as a Poisson process, at most `maxConcurrency` in flight.
public struct LoadShape: Sendable, Codable, Equatable {
    /// Requests per second; infinity sends them all at once (vLLM's default).
    public var requestRate: Double
    public var maxConcurrency: Int?
    public var seed: UInt64

    public init(requestRate: Double = .infinity, maxConcurrency: Int? = nil, seed: UInt64 = 0) {
        self.requestRate = requestRate
        self.maxConcurrency = maxConcurrency
        self.seed = seed
    }

    /// Send times, seconds after the start, of `count` requests.
    public func sendTimes(count: Int) -> [Double] {
        guard requestRate.isFinite, requestRate > 0 else { return Array(repeating: 0, count: count) }
        var rng = BenchRandom(seed: seed ^ 0x5EED)
        var t = 0.0
        return (0..<count).map { i in
            if i > 0 { t += rng.exponential(rate: requestRate) }
            return t
        }
    }
}

/// A counting semaphore for tasks.
final class AsyncLimiter: Sendable {
    private struct State {
        var available: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(_ limit: Int) { state = Mutex(State(available: limit)) }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiting.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.resume()
    }
}

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
public final class ProgressBar: Sendable {
    private let total: Int
    private let state = Mutex<(done: Int, failed: Int, inFlight: Int, peak: Int)>((0, 0, 0, 0))
    private let start = ContinuousClock.now
    private let enabled: Bool

    public init(total: Int, enabled: Bool = isatty(2) != 0) {
        self.total = total
        self.enabled = enabled
    }

    func started() {
        state.withLock {
            $0.inFlight += 1
            $0.peak = max($0.peak, $0.inFlight)
        }
    }

    func finished(success: Bool) {
        let s = state.withLock {
            $0.inFlight -= 1
            $0.done += 1
            if !success { $0.failed += 1 }
            return $0
        }
        draw(done: s.done, failed: s.failed, inFlight: s.inFlight)
    }

    var peak: Int { state.withLock { $0.peak } }

    func draw(done: Int, failed: Int, inFlight: Int) {
        guard enabled else { return }
        let width = 30
        let filled = total > 0 ? done * width / total : width
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        var line = String(format: "\r%@ %d/%d requests, %d in flight, %.1f s", bar, done, total, inFlight, seconds)
        if failed > 0 { line += ", \(failed) failed" }
        if done == total { line += "\n" }
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// Runs a benchmark: sends every prompt on the schedule and collects what each request saw.
public enum LoadGenerator {
    public static func run(
        client: StreamingClient, prompts: [BenchPrompt], shape: LoadShape, progress: ProgressBar
    ) async -> (outcomes: [RequestOutcome], duration: Double, peakConcurrency: Int) {
        let times = shape.sendTimes(count: prompts.count)
        let limiter = shape.maxConcurrency.map { AsyncLimiter($0) }
        let clock = ContinuousClock()
        let origin = clock.now
        progress.draw(done: 0, failed: 0, inFlight: 0)
        let outcomes = await withTaskGroup(of: (Int, RequestOutcome).self) { group in
            for (i, prompt) in prompts.enumerated() {
                let due = origin + .nanoseconds(Int64(times[i] * 1e9))
                if due > clock.now { try? await clock.sleep(until: due) }
                // Waiting for a slot here keeps later arrivals behind earlier ones, as vLLM's semaphore does.
                await limiter?.acquire()
                progress.started()
                group.addTask {
                    let outcome = await client.send(prompt, origin: origin)
                    // Counted as finished before its slot frees, so that the peak never counts a successor twice.
                    progress.finished(success: outcome.success)
                    limiter?.release()
                    return (i, outcome)
                }
            }
            var all = [RequestOutcome?](repeating: nil, count: prompts.count)
            for await (i, outcome) in group { all[i] = outcome }
            return all.compactMap { $0 }
        }
        let d = clock.now - origin
        return (outcomes, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18, progress.peak)
    }
}
