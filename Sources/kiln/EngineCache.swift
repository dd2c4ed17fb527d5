import ArgumentParser
import Foundation
import KilnBuild
import KilnFormats
import KilnModels

/// One load path: `generate` and `serve` given a GGUF file or Hugging Face directory run an engine built from it
/// (--weights keep: outputs identical to the source's), reused from a cache keyed by the source's checksum, the
/// build options and the engine format. The cache lives in $KILN_CACHE, else $XDG_CACHE_HOME/kiln, else
/// ~/.cache/kiln; KILN_CACHE=off loads checkpoints directly. A cache that cannot be written is reported and the
/// checkpoint loaded directly, so a read-only home never stops a model from running.
enum EngineCache {
    static var directory: String? {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["KILN_CACHE"] {
            return ["off", "0", "false", "none", ""].contains(dir.lowercased()) ? nil : dir
        }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/kiln" }
        return NSHomeDirectory() + "/.cache/kiln"
    }

    /// The path to load for `path`: itself when it is an engine (or the cache is off), else the cached engine of
    /// it, built now when missing.
    static func resolve(_ path: String, log: (String) -> Void) -> String {
        guard let directory, !EngineFile.hasMagic(path: path) else { return path }
        // A checkpoint that does not open is reported by the direct load, as without a cache.
        guard let source = try? ModelLoader.open(path) else { return path }
        if case .engine = source { return path }
        do {
            let options = BuildOptions()
            let checksum = try EngineBuilder.sourceChecksum(source)
            let layout = Hash64.hex(
                Array((EngineBuilder.kilnVersion + EngineBuilder.packedLayout).utf8).withUnsafeBytes { Hash64.hash($0) })
            let name = URL(fileURLWithPath: path).lastPathComponent
            let key = "\(Hash64.hex(checksum.hash))-\(options.cacheKey)-f\(EngineFile.formatVersion)-\(layout.prefix(8))"
            let engine = "\(directory)/\(name)-\(key).kiln"
            let store = EngineCacheStore(
                directory: directory, budget: try EngineCacheStore.budget(environment: ProcessInfo.processInfo.environment))
            if FileManager.default.fileExists(atPath: engine), (try? EngineFile(path: engine)) != nil {
                store.touch(engine)
                return engine
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let start = ContinuousClock.now
            _ = try EngineBuilder.build(source: path, output: engine, options: options)
            let elapsed = ContinuousClock.now - start
            log(
                String(
                    format: "built engine %@ in %.2f s", engine,
                    Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            for removed in store.prune(keep: [engine]) {
                log("engine cache over \(Self.gb(store.budget)) (KILN_CACHE_MAX_GB): removed \(removed.path)")
            }
            return engine
        } catch {
            // Only the cache's own failures are worth a line; a bad checkpoint fails the direct load with its error.
            if "\(error)".contains(directory) || error is BuildError {
                log("engine cache: \(error); loading \(path) directly")
            }
            return path
        }
    }

    static func gb(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
}

/// `kiln cache list` and `kiln cache prune`: the engines `generate` and `serve` built from checkpoints.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List or prune the engine cache ($KILN_CACHE, $XDG_CACHE_HOME/kiln or ~/.cache/kiln).",
        discussion: """
            generate and serve build an engine for each checkpoint and option set they are given and keep it here.
            After each new build the least recently used engines are removed until the cache fits KILN_CACHE_MAX_GB
            (default \(EngineCacheStore.defaultBudgetGB) GB); the engine being loaded is never removed.
            """,
        subcommands: [List.self, Prune.self])

    static func store(maxGB: Double?) throws -> EngineCacheStore {
        guard let directory = EngineCache.directory else {
            printError("error: the engine cache is off (KILN_CACHE=\(ProcessInfo.processInfo.environment["KILN_CACHE"] ?? ""))")
            throw ExitCode(1)
        }
        let budget = try reportingErrors {
            try maxGB.map { Int($0 * 1e9) } ?? EngineCacheStore.budget(environment: ProcessInfo.processInfo.environment)
        }
        return EngineCacheStore(directory: directory, budget: budget)
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List cached engines, least recently used first.")

        func run() throws {
            let store = try CacheCommand.store(maxGB: nil)
            let formatter = ISO8601DateFormatter()
            for e in store.entries() {
                print(String(format: "%10.1f MiB  %@  %@", Double(e.bytes) / 1_048_576, formatter.string(from: e.lastUsed), e.path))
            }
            print("total \(EngineCache.gb(store.totalBytes)) of \(EngineCache.gb(store.budget)) in \(store.directory)")
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove least recently used engines until the cache fits its budget.")

        @Option(help: "The budget in GB for this run (default: KILN_CACHE_MAX_GB, else 20; 0 empties the cache).")
        var maxGB: Double?

        func validate() throws {
            if let maxGB, !(maxGB >= 0) { throw ValidationError("--max-gb must be ≥ 0") }
        }

        func run() throws {
            let store = try CacheCommand.store(maxGB: maxGB)
            let removed = store.prune()
            for e in removed { print("removed \(e.path) (\(String(format: "%.1f MiB", Double(e.bytes) / 1_048_576)))") }
            print("removed \(removed.count) engines; total \(EngineCache.gb(store.totalBytes)) of \(EngineCache.gb(store.budget))")
        }
    }
}
