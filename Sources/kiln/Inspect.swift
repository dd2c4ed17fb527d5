import ArgumentParser
import Foundation
import KilnFormats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a GGUF file's metadata and tensor table.")

    @Option(name: .shortAndLong, help: "Path of a GGUF file.")
    var model: String

    @Flag(help: "List every tensor.")
    var tensors = false

    func run() throws {
        let gguf = try reportingErrors { try GGUFFile(path: model) }
        print("GGUF v\(gguf.version), \(gguf.metadata.count) metadata entries, \(gguf.tensors.count) tensors, alignment \(gguf.alignment)")
        for key in gguf.metadataKeys {
            guard let value = gguf.metadata[key] else { continue }
            print("  \(key) = \(Self.summary(value))")
        }
        if tensors {
            for t in gguf.tensors {
                print("  \(t.name) \(t.type) \(t.dimensions) @\(t.offset) \(t.byteCount) B")
            }
        }
    }

    static func summary(_ v: GGUFValue) -> String {
        switch v {
        case .array(let items):
            let head = items.prefix(4).map(summary).joined(separator: ", ")
            return "[\(head)\(items.count > 4 ? ", … (\(items.count) items)" : "")]"
        case .string(let s):
            return s.count > 80 ? "\"\(s.prefix(80))…\" (\(s.utf8.count) bytes)" : "\"\(s)\""
        default:
            return "\(v)".replacingOccurrences(of: "KilnFormats.GGUFValue.", with: "")
        }
    }
}
