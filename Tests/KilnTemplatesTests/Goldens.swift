import Foundation
import KilnTemplates

/// Reads Tests/goldens/templates/, written by scripts/reference/make_template_goldens.py from transformers'
/// own chat-template rendering.
enum Goldens {
    static let directory: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("Tests/goldens/templates")
    }()

    static func json(_ name: String) throws -> Value {
        try Value(json: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    static let templateNames = [
        "smollm2", "qwen2.5", "gemma3", "llama3.1", "mistral-v3", "mistral-v1", "phi3", "phi3.5", "zephyr", "chatml",
    ]
}

extension Value {
    subscript(_ key: String) -> Value { objectValue?[key] ?? .undefined }
    var bool: Bool { if case .bool(let b) = self { b } else { false } }
}
