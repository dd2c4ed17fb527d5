import Foundation
import KilnBuild
import Testing

/// The engine cache's budget on tiny fake engines with chosen last-use times: least recently used removed first
/// until the total fits, the engine in use never removed, other files left alone, use refreshing an engine's place.
@Suite struct EngineCacheTests {
    /// Writes `bytes` bytes as `name` in `dir`, last used `age` seconds ago.
    func fake(_ dir: String, _ name: String, bytes: Int, age: TimeInterval) throws -> String {
        let path = dir + "/" + name
        try Data(repeating: 7, count: bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-age)], ofItemAtPath: path)
        return path
    }

    func names(_ entries: [EngineCacheStore.Entry]) -> [String] { entries.map { URL(fileURLWithPath: $0.path).lastPathComponent } }

    @Test func leastRecentlyUsedGoFirst() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try fake(dir.path, "a.kiln", bytes: 400, age: 400)
        _ = try fake(dir.path, "b.kiln", bytes: 300, age: 300)
        _ = try fake(dir.path, "c.kiln", bytes: 200, age: 200)
        let newest = try fake(dir.path, "d.kiln", bytes: 100, age: 0)
        // Not engines: a build in progress and an unrelated file are never counted or removed.
        _ = try fake(dir.path, ".e.kiln.partial-1", bytes: 5000, age: 900)
        _ = try fake(dir.path, "notes.txt", bytes: 5000, age: 900)

        let store = EngineCacheStore(directory: dir.path, budget: 350)
        #expect(names(store.entries()) == ["a.kiln", "b.kiln", "c.kiln", "d.kiln"])
        #expect(store.totalBytes == 1000)
        // 1000 bytes over a 350 budget: a (400) and b (300) go, leaving 300 ≤ 350.
        let removed = store.prune(keep: [newest])
        #expect(names(removed) == ["a.kiln", "b.kiln"])
        #expect(names(store.entries()) == ["c.kiln", "d.kiln"])
        #expect(Set(dir.contents) == ["c.kiln", "d.kiln", ".e.kiln.partial-1", "notes.txt"])
        // Within budget: nothing more goes.
        #expect(store.prune(keep: [newest]).isEmpty)
    }

    @Test func engineInUseIsNeverRemoved() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let inUse = try fake(dir.path, "old-but-in-use.kiln", bytes: 800, age: 1000)
        _ = try fake(dir.path, "recent.kiln", bytes: 100, age: 10)
        // The kept engine alone exceeds the budget: everything else goes, it stays.
        let store = EngineCacheStore(directory: dir.path, budget: 500)
        #expect(names(store.prune(keep: [dir.path + "/./old-but-in-use.kiln"])) == ["recent.kiln"])
        #expect(FileManager.default.fileExists(atPath: inUse))
        // A budget of 0 with nothing kept empties the cache.
        #expect(names(EngineCacheStore(directory: dir.path, budget: 0).prune()) == ["old-but-in-use.kiln"])
        #expect(dir.contents.isEmpty)
    }

    @Test func touchMakesAnEngineRecent() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let old = try fake(dir.path, "old.kiln", bytes: 100, age: 1000)
        _ = try fake(dir.path, "mid.kiln", bytes: 100, age: 500)
        let store = EngineCacheStore(directory: dir.path, budget: 100)
        store.touch(old)
        #expect(names(store.entries()) == ["mid.kiln", "old.kiln"])
        #expect(names(store.prune()) == ["mid.kiln"])
    }

    @Test func budgetFromEnvironment() throws {
        #expect(try EngineCacheStore.budget(environment: [:]) == 20_000_000_000)
        #expect(try EngineCacheStore.budget(environment: ["KILN_CACHE_MAX_GB": "0.5"]) == 500_000_000)
        #expect(try EngineCacheStore.budget(environment: ["KILN_CACHE_MAX_GB": "0"]) == 0)
        for bad in ["-1", "lots", "nan"] {
            #expect(throws: BuildError.self) { try EngineCacheStore.budget(environment: ["KILN_CACHE_MAX_GB": bad]) }
        }
    }
}
