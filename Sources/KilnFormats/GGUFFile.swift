import KilnTensors

/// A GGUF checkpoint (versions 2 and 3), memory-mapped.
///
/// Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata
/// key/value pairs, the tensor infos (name, dims innermost first, ggml type, offset relative to the data section),
/// padding to `general.alignment` (default 32), then the tensor data. Every count and offset is checked against the
/// file's size before it is trusted, so a corrupt file is an error, not a crash or a huge allocation.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for display).
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    /// End of the metadata key/value pairs (where the tensor infos begin).
    public let metadataEnd: Int
    public let file: MappedFile
    private let index: [String: Int]

    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian u32

    public convenience init(path: String) throws {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch let failure as MappedFile.Failure {
            throw FormatError(path, "\(failure)".replacingPrefix(path + ": ", with: ""))
        }
        try self.init(file: file, path: path)
    }

    /// Parses a GGUF image already in memory (a mapped file, or a view of one embedded in an engine file). With
    /// `headerOnly` the image may end where the tensor data would begin (an engine file keeps its source's GGUF
    /// header, not its data): tensor infos are read and checked, but their data must not be read.
    public init(file: MappedFile, path: String, headerOnly: Bool = false) throws {
        self.file = file
        self.path = path
        var r = ByteReader(base: file.base, count: file.count, path: path)

        guard file.count >= 4 else { throw r.error("not a GGUF file: it is only \(file.count) bytes long") }
        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw r.error("not a GGUF file: bad magic \(Self.describeMagic(magic)) (expected \"GGUF\")")
        }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            if version == 1 {
                throw r.error("GGUF version 1 is not supported (re-convert the model with a current llama.cpp)")
            }
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw r.error("big-endian GGUF files are not supported")
            }
            throw r.error("unsupported GGUF version \(version) (supported: 2 and 3)")
        }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        // Each metadata pair takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 4 + 8.
        guard kvCount <= UInt64(r.remaining / 13) else {
            throw r.error("file is corrupt or truncated: it claims \(kvCount) metadata entries in \(r.remaining) bytes")
        }
        guard tensorCount <= UInt64(r.remaining / 24) else {
            throw r.error("file is corrupt or truncated: it claims \(tensorCount) tensors in \(r.remaining) bytes")
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(kvCount))
        for i in 0..<Int(kvCount) {
            let key = try r.readString("metadata key #\(i)")
            let type = try r.read(UInt32.self, "type of metadata '\(key)'")
            let value = try Self.readValue(&r, type: type, key: key, depth: 0)
            if metadata.updateValue(value, forKey: key) != nil {
                throw r.error("metadata key '\(key)' appears twice")
            }
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys
        metadataEnd = r.offset

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw r.error("general.alignment must be a power of two, got \(a)")
            }
            alignment = v
        }
        self.alignment = alignment

        var infos: [(name: String, dims: [Int], type: DType, offset: UInt64)] = []
        infos.reserveCapacity(Int(tensorCount))
        for i in 0..<Int(tensorCount) {
            let name = try r.readString("name of tensor #\(i)")
            let nDims = try r.read(UInt32.self, "dimension count of tensor '\(name)'")
            guard nDims >= 1, nDims <= 4 else {
                throw r.error("tensor '\(name)' has \(nDims) dimensions (GGUF allows 1 to 4)")
            }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let n = try r.read(UInt64.self, "dimension \(d) of tensor '\(name)'")
                guard n >= 1, n <= 1 << 40 else { throw r.error("tensor '\(name)' has an invalid dimension \(n)") }
                dims.append(Int(n))
            }
            let rawType = try r.read(UInt32.self, "type of tensor '\(name)'")
            guard let type = DType(rawValue: rawType) else {
                throw r.error("tensor '\(name)' has unknown or unsupported tensor type \(rawType)\(Self.typeHint(rawType))")
            }
            let offset = try r.read(UInt64.self, "data offset of tensor '\(name)'")
            infos.append((name, dims, type, offset))
        }

        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        tensors.reserveCapacity(infos.count)
        for info in infos {
            var elements = 1
            for d in info.dims {
                let (m, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw r.error("tensor '\(info.name)' is too large") }
                elements = m
            }
            guard info.dims[0] % info.type.blockElements == 0, let bytes = info.type.byteCount(elements: elements)
            else {
                throw r.error(
                    "tensor '\(info.name)' has \(info.dims[0]) values per row, not a multiple of \(info.type)'s block of \(info.type.blockElements)"
                )
            }
            guard info.offset % UInt64(alignment) == 0 else {
                throw r.error("tensor '\(info.name)' data offset \(info.offset) is not aligned to \(alignment)")
            }
            guard headerOnly || (info.offset <= UInt64(file.count) && dataOffset + Int(info.offset) + bytes <= file.count)
            else {
                throw r.error(
                    "file is truncated: tensor '\(info.name)' needs bytes up to \(dataOffset + Int(clamping: info.offset) + bytes), but the file has \(file.count)"
                )
            }
            guard index.updateValue(tensors.count, forKey: info.name) == nil else {
                throw r.error("tensor '\(info.name)' appears twice")
            }
            tensors.append(
                GGUFTensorInfo(
                    name: info.name, dimensions: info.dims, type: info.type,
                    offset: dataOffset + Int(info.offset), byteCount: bytes))
        }
        self.tensors = tensors
        self.index = index
    }

    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// Pointer to a tensor's first byte inside the mapping.
    public func data(of info: GGUFTensorInfo) -> UnsafeRawPointer { file.base + info.offset }

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// Most metadata keys are prefixed by the architecture name (`llama.block_count`).
    public var architecture: String? { metadata["general.architecture"]?.string }

    static func readValue(_ r: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try r.read(UInt8.self, "value of '\(key)'"))
        case 1: return .int8(try r.read(Int8.self, "value of '\(key)'"))
        case 2: return .uint16(try r.read(UInt16.self, "value of '\(key)'"))
        case 3: return .int16(try r.read(Int16.self, "value of '\(key)'"))
        case 4: return .uint32(try r.read(UInt32.self, "value of '\(key)'"))
        case 5: return .int32(try r.read(Int32.self, "value of '\(key)'"))
        case 6: return .float32(try r.readFloat("value of '\(key)'"))
        case 7:
            let b = try r.read(UInt8.self, "value of '\(key)'")
            guard b <= 1 else { throw r.error("metadata '\(key)' holds an invalid bool byte \(b)") }
            return .bool(b == 1)
        case 8: return .string(try r.readString("value of '\(key)'"))
        case 9:
            guard depth < 8 else { throw r.error("metadata '\(key)' nests arrays more than 8 deep") }
            let elementType = try r.read(UInt32.self, "array type of '\(key)'")
            let n = try r.read(UInt64.self, "array length of '\(key)'")
            let minSize = Self.minimumSize(of: elementType)
            guard minSize > 0 else { throw r.error("metadata '\(key)' has an unknown array element type \(elementType)") }
            guard n <= UInt64(r.remaining / minSize) else {
                throw r.error("file is truncated or corrupt: array '\(key)' claims \(n) elements in \(r.remaining) bytes")
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<Int(n) {
                items.append(try readValue(&r, type: elementType, key: key, depth: depth + 1))
            }
            return .array(items)
        case 10: return .uint64(try r.read(UInt64.self, "value of '\(key)'"))
        case 11: return .int64(try r.read(Int64.self, "value of '\(key)'"))
        case 12: return .float64(try r.readDouble("value of '\(key)'"))
        default: throw r.error("metadata '\(key)' has an unknown value type \(type)")
        }
    }

    /// Smallest encoding of one value of a GGUF metadata type; 0 for unknown types.
    static func minimumSize(of type: UInt32) -> Int {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8: return 8
        case 9: return 12
        case 10, 11, 12: return 8
        default: return 0
        }
    }

    static func describeMagic(_ m: UInt32) -> String {
        let bytes = withUnsafeBytes(of: m.littleEndian) { Array($0) }
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
        return bytes.map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
    }

    static func typeHint(_ raw: UInt32) -> String {
        let known = DType.allCases.map(\.description).joined(separator: ", ")
        return " (supported: \(known))"
    }
}

/// Where one tensor lives in a GGUF file. `dimensions` is in ggml order: `dimensions[0]` is the row length.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let dimensions: [Int]
    public let type: DType
    /// Absolute byte offset in the file.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { dimensions.reduce(1, *) }
    public var rowLength: Int { dimensions[0] }
    public var rowCount: Int { elementCount / dimensions[0] }
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }

    func leftPadded(_ n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}
