import Foundation
import Testing

func packageRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}

/// The model path under models/, or nil (a recorded failure when KILN_REQUIRE_MODELS is set, as in CI).
func modelPath(_ relative: String) -> String? {
    let path = packageRoot() + "/models/" + relative
    if FileManager.default.fileExists(atPath: path) { return path }
    let required = ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] != nil
    #expect(!required, "missing \(path): run `make reference` (scripts/fetch_models.sh and scripts/reference/convert.sh)")
    return nil
}

/// A fresh directory under the temporary folder, removed by `remove()`.
struct TemporaryDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-build-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}

struct GoldenPrompts: Decodable {
    struct Prompt: Decodable {
        let name: String
        let ids: [Int32]
    }
    let prompts: [Prompt]

    static func load(_ name: String) throws -> [Prompt] {
        let url = URL(fileURLWithPath: packageRoot() + "/Tests/goldens/\(name).json")
        return try JSONDecoder().decode(GoldenPrompts.self, from: Data(contentsOf: url)).prompts
    }
}
