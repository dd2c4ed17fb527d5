import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The engine cache's files and its size budget: engines built from checkpoints by `generate` and `serve`
/// (`kiln` keys them by the source's checksum and the build options). Each use of an engine sets its modification
/// time, so the least recently used engines go first when the cache is over budget; the engine about to be used is
/// never removed. Removing an engine another process has mapped is safe on Linux: its mapping keeps the pages until
/// it unmaps them.
public struct EngineCacheStore: Sendable {
    public let directory: String
    /// The cache's largest total size in bytes.
    public let budget: Int

    /// 20 GB unless KILN_CACHE_MAX_GB says otherwise.
    public static let defaultBudgetGB = 20.0

    public init(directory: String, budget: Int) {
        self.directory = directory
        self.budget = budget
    }

    /// The budget from `KILN_CACHE_MAX_GB` (decimal gigabytes, fractions allowed), else the default.
    public static func budget(environment: [String: String]) throws(BuildError) -> Int {
        guard let text = environment["KILN_CACHE_MAX_GB"], !text.isEmpty else { return Int(defaultBudgetGB * 1e9) }
        guard let gb = Double(text), gb >= 0, gb.isFinite else {
            throw BuildError("KILN_CACHE_MAX_GB=\(text) is not a size in gigabytes (e.g. 20 or 0.5)")
        }
        return Int(gb * 1e9)
    }

    public struct Entry: Sendable, Equatable {
        public let path: String
        public let bytes: Int
        public let lastUsed: Date
    }

    /// The cache's engine files, least recently used first (partial files of builds in progress are not entries).
    public func entries() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".kiln") && !$0.hasPrefix(".") }.compactMap { name -> Entry? in
            let path = directory + "/" + name
            guard let a = try? FileManager.default.attributesOfItem(atPath: path),
                (a[.type] as? FileAttributeType) == .typeRegular
            else { return nil }
            return Entry(
                path: path, bytes: (a[.size] as? Int) ?? 0, lastUsed: (a[.modificationDate] as? Date) ?? .distantPast)
        }.sorted { ($0.lastUsed, $0.path) < ($1.lastUsed, $1.path) }
    }

    public var totalBytes: Int { entries().reduce(0) { $0 + $1.bytes } }

    /// Marks `path` as just used.
    public func touch(_ path: String) {
        _ = utimensat(AT_FDCWD, path, nil, 0)
    }

    /// Removes the least recently used engines until the cache fits `budget`, never one in `keep`; returns what it
    /// removed. When the kept engines alone exceed the budget, everything else goes and they stay.
    @discardableResult
    public func prune(keep: Set<String> = []) -> [Entry] {
        let keepPaths = Set(keep.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        var all = entries()
        var total = all.reduce(0) { $0 + $1.bytes }
        var removed: [Entry] = []
        while total > budget, let i = all.firstIndex(where: { !keepPaths.contains(URL(fileURLWithPath: $0.path).standardizedFileURL.path) }) {
            let entry = all.remove(at: i)
            guard (try? FileManager.default.removeItem(atPath: entry.path)) != nil else { continue }
            total -= entry.bytes
            removed.append(entry)
        }
        return removed
    }
}
