import ArgumentParser
import Foundation
import KilnFormats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a GGUF or engine file's metadata and tensor table.",
        discussion: "For an engine file (.kiln): header, sections, source, config, limits, build plan and tensors.")

    @Argument(help: "Path of a GGUF or engine file.")
    var file: String?

    @Option(name: .shortAndLong, help: "Path of a GGUF or engine file (instead of the argument).")
    var model: String?

    @Flag(help: "List every tensor of a GGUF file.")
    var tensors = false

    @Flag(help: "Engine files: check every section's and tensor's checksum; exits 1 on a mismatch.")
    var verify = false

    func validate() throws {
        guard (file == nil) != (model == nil) else { throw ValidationError("give one file, as an argument or --model") }
    }

    func run() throws {
        let model = file ?? self.model ?? ""
        if EngineFile.hasMagic(path: model) || model.hasSuffix(".kiln") {
            let engine = try reportingErrors { try EngineFile(path: model) }
            InspectEngine.print(engine)
            if verify { try InspectEngine.verify(engine) }
            return
        }
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
