import Foundation
import KilnModels
import Testing

/// Reference outputs from transformers (Tests/goldens/README.md describes the files and the tolerances).
struct ModelGolden: Decodable {
    struct Meta: Decodable {
        let vocab_size: Int
    }
    struct Logits: Decodable {
        let pos: Int
        let max_abs: Float
        let top: [[Float]]  // [id, logit] pairs, best first
        let tail: [Float]
    }
    struct Prompt: Decodable {
        let name: String
        let ids: [Int32]
        let bos_added: Bool
        let logits: [Logits]
        let greedy: [Int32]
        let greedy_margins: [Float]
    }
    let model: String
    let meta: Meta
    let tail_ids: [Int32]
    let prompts: [Prompt]

    static func load(_ name: String) throws -> ModelGolden {
        let url = URL(fileURLWithPath: packageRoot() + "/Tests/goldens/\(name).json")
        return try JSONDecoder().decode(ModelGolden.self, from: Data(contentsOf: url))
    }
}

struct PromptText: Decodable {
    let name: String
    let text: String
    let models: [String]?

    static func load() throws -> [String: String] {
        let url = URL(fileURLWithPath: packageRoot() + "/Tests/goldens/prompts.json")
        let list = try JSONDecoder().decode([PromptText].self, from: Data(contentsOf: url))
        return Dictionary(list.map { ($0.name, $0.text) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Walks up from this file to the package root (the folder with Package.swift).
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
