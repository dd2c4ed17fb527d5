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
            if FileManager.default.fileExists(atPath: engine), (try? EngineFile(path: engine)) != nil { return engine }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let start = ContinuousClock.now
            _ = try EngineBuilder.build(source: path, output: engine, options: options)
            let elapsed = ContinuousClock.now - start
            log(
                String(
                    format: "built engine %@ in %.2f s", engine,
                    Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            return engine
        } catch {
            // Only the cache's own failures are worth a line; a bad checkpoint fails the direct load with its error.
            if "\(error)".contains(directory) { log("engine cache: \(error); loading \(path) directly") }
            return path
        }
    }
}
