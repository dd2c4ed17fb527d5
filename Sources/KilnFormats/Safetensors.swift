import Foundation
import KilnTensors

/// One `.safetensors` file, memory-mapped: an 8-byte little-endian header length, a JSON header mapping each tensor
/// name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the end of the header), then the data.
/// Offsets are checked against the shapes and the file size before any tensor is handed out.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let tensors: [String: SafetensorsTensorInfo]
    public let metadata: [String: String]

    public init(path: String) throws {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch let failure as MappedFile.Failure {
            throw FormatError(path, "\(failure)".replacingPrefix(path + ": ", with: ""))
        }
        self.path = path
        self.file = file
        var r = ByteReader(base: file.base, count: file.count, path: path)
        let headerLength = try r.read(UInt64.self, "safetensors header length")
        guard headerLength <= UInt64(r.remaining), headerLength <= 100_000_000 else {
            throw r.error("file is truncated or not a safetensors file: header length \(headerLength) exceeds the file")
        }
        let headerData = Data(bytes: file.base + 8, count: Int(headerLength))
        let dataStart = 8 + Int(headerLength)
        let dataCount = file.count - dataStart

        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw r.error("not a safetensors file: the header is not a JSON object")
        }
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { metadata[k] = v as? String }
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw r.error("tensor '\(name)' has a malformed header entry (needs dtype, shape and data_offsets)")
            }
            guard let dtype = SafetensorsTensorInfo.dtype(named: dtypeName) else {
                throw r.error("tensor '\(name)' has unsupported dtype \(dtypeName) (supported: F32, F16, BF16)")
            }
            var elements = 1
            for d in shape {
                guard d >= 0 else { throw r.error("tensor '\(name)' has a negative dimension") }
                let (m, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw r.error("tensor '\(name)' is too large") }
                elements = m
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataCount else {
                throw r.error(
                    "tensor '\(name)' data_offsets [\(begin), \(end)] lie outside the data section of \(dataCount) bytes (truncated or corrupt file)"
                )
            }
            guard end - begin == elements * dtype.blockBytes else {
                throw r.error(
                    "tensor '\(name)' data_offsets span \(end - begin) bytes, but shape \(shape) of \(dtypeName) needs \(elements * dtype.blockBytes)"
                )
            }
            tensors[name] = SafetensorsTensorInfo(
                name: name, shape: shape, type: dtype, offset: dataStart + begin, byteCount: end - begin)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    public func data(of info: SafetensorsTensorInfo) -> UnsafeRawPointer { file.base + info.offset }
}

/// Where one tensor lives in a safetensors file. `shape` is row-major, outermost first (PyTorch's order).
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let type: DType
    public let offset: Int
    public let byteCount: Int

    static func dtype(named name: String) -> DType? {
        switch name {
        case "F32": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        default: return nil
        }
    }
}

/// A Hugging Face checkpoint directory: config.json, one `model.safetensors` or shards listed in
/// `model.safetensors.index.json`, and the tokenizer and generation files beside them.
public final class HFCheckpoint: @unchecked Sendable {
    public let directory: String
    public let config: [String: Any]
    public let generationConfig: [String: Any]?
    public let files: [SafetensorsFile]
    private let index: [String: (file: Int, info: SafetensorsTensorInfo)]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw FormatError(directory, "no such directory")
        }
        let configPath = directory + "/config.json"
        config = try Self.readJSONObject(configPath, required: true) ?? [:]
        generationConfig = try Self.readJSONObject(directory + "/generation_config.json", required: false)

        var shardNames: [String]
        let indexPath = directory + "/model.safetensors.index.json"
        if fm.fileExists(atPath: indexPath) {
            guard let indexJSON = try Self.readJSONObject(indexPath, required: true),
                let weightMap = indexJSON["weight_map"] as? [String: String]
            else { throw FormatError(indexPath, "has no weight_map object") }
            shardNames = Array(Set(weightMap.values)).sorted()
        } else if fm.fileExists(atPath: directory + "/model.safetensors") {
            shardNames = ["model.safetensors"]
        } else {
            throw FormatError(directory, "has neither model.safetensors nor model.safetensors.index.json")
        }
        var files: [SafetensorsFile] = []
        var index: [String: (Int, SafetensorsTensorInfo)] = [:]
        for name in shardNames {
            guard !name.contains("/") else { throw FormatError(indexPath, "shard name '\(name)' must be a plain file name") }
            let file = try SafetensorsFile(path: directory + "/" + name)
            for (tensorName, info) in file.tensors {
                if index[tensorName] != nil { throw FormatError(file.path, "tensor '\(tensorName)' also appears in another shard") }
                index[tensorName] = (files.count, info)
            }
            files.append(file)
        }
        self.files = files
        self.index = index
    }

    public var tensorNames: [String] { index.keys.sorted() }

    public func tensorInfo(_ name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        index[name].map { (files[$0.file], $0.info) }
    }

    public static func readJSONObject(_ path: String, required: Bool) throws -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if required { throw FormatError(path, "file not found") }
            return nil
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw FormatError(path, "is not a valid JSON object")
        }
        return dict
    }
}
