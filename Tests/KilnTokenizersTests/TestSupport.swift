import Foundation
import KilnFormats
import KilnModels
import KilnTokenizers
import Testing

/// Where the test data lives, found from this file's path so tests run from any working directory.
enum TestData {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// CI sets KILN_REQUIRE_MODELS so that a missing model fails the run instead of skipping tests.
    static let modelsRequired = ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] != nil

    struct Model: Sendable, CustomTestStringConvertible {
        let name: String
        let gguf: String
        var testDescription: String { name }

        var ggufURL: URL { packageRoot.appendingPathComponent("models").appendingPathComponent(gguf) }
        var hfDirectory: URL { packageRoot.appendingPathComponent("models").appendingPathComponent(name + "-hf") }
        var goldenURL: URL { packageRoot.appendingPathComponent("Tests/goldens/tokenizer_dev_\(name).json") }

        /// Run a test needing `url` when the file is there, or when CI requires it (then it fails loudly).
        func available(_ url: URL) -> Bool {
            modelsRequired || FileManager.default.fileExists(atPath: url.path)
        }
        var hasGGUF: Bool { available(ggufURL) }
        var hasHF: Bool { available(hfDirectory.appendingPathComponent("tokenizer.json")) }
    }

    static let smollm2 = Model(name: "smollm2", gguf: "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    static let qwen25 = Model(name: "qwen2.5", gguf: "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    static let gemma3 = Model(name: "gemma3", gguf: "gemma3/gemma-3-270m-q4_k_m.gguf")
    static let models = [smollm2, qwen25, gemma3]
}

/// One golden case: a string and what Hugging Face `tokenizers` makes of it.
struct GoldenCase: Decodable {
    let text: String
    let ids: [Int32]
    let ids_no_special: [Int32]
    let ids_plain: [Int32]
    let decoded: String
    let decoded_skip_special: String
}

struct GoldenFile: Decodable {
    let model: String
    let cases: [GoldenCase]
}

/// Tokenizers are expensive to build (a 262k vocabulary), so each is built once per test process.
final class TokenizerCache: @unchecked Sendable {
    static let shared = TokenizerCache()
    private let lock = NSLock()
    private var tokenizers: [String: Tokenizer] = [:]

    func tokenizer(_ key: String, _ build: () throws -> Tokenizer) throws -> Tokenizer {
        lock.lock()
        defer { lock.unlock() }
        if let hit = tokenizers[key] { return hit }
        let built = try build()
        tokenizers[key] = built
        return built
    }

    static func fromJSON(_ model: TestData.Model) throws -> Tokenizer {
        try shared.tokenizer("json:" + model.name) {
            let json = try Data(contentsOf: model.hfDirectory.appendingPathComponent("tokenizer.json"))
            let config = try? Data(contentsOf: model.hfDirectory.appendingPathComponent("tokenizer_config.json"))
            return try Tokenizer.fromTokenizerJSON(json, config: config)
        }
    }

    static func fromGGUF(_ model: TestData.Model) throws -> Tokenizer {
        try shared.tokenizer("gguf:" + model.name) {
            try Tokenizer(gguf: GGUFVocabulary(gguf: GGUFFile(path: model.ggufURL.path)))
        }
    }
}

func loadGolden(_ model: TestData.Model) throws -> GoldenFile {
    try JSONDecoder().decode(GoldenFile.self, from: Data(contentsOf: model.goldenURL))
}
