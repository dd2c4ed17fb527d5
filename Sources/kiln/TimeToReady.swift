import ArgumentParser
import Foundation

/// `kiln bench --time-to-ready`: how long a fresh process takes from start until it has computed a first token.
/// Each repetition runs `kiln generate --model M --prompt Hello -n 1` (this binary) and times it from launch to
/// exit, which bounds the time to ready from above (it includes tokenizing, one forward pass and exiting).
enum TimeToReady {
    static func run(model: String, threads: Int, repetitions: Int) throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        var times: [Double] = []
        for _ in 0..<(repetitions + 1) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["generate", "--model", model, "--prompt", "Hello", "-n", "1", "--threads", "\(threads)"]
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            let start = ContinuousClock.now
            try process.run()
            let stderr = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let elapsed = ContinuousClock.now - start
            guard process.terminationStatus == 0 else {
                printError("error: kiln generate failed: \(String(decoding: stderr, as: UTF8.self))")
                throw ExitCode(1)
            }
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        // The first run warms the page cache (and builds the engine for a checkpoint): reported, not counted.
        let warm = times.dropFirst().sorted()
        print(
            String(
                format: "time to ready (start → first token → exit), %@: first %.3f s; then min %.3f s, median %.3f s over %d runs",
                model, times[0], warm.first ?? 0, warm[warm.count / 2], warm.count))
    }
}
