import Foundation
import KilnTensors

/// A Kiln engine file (`.kiln`), memory-mapped: one checkpoint compiled for the CPU kernels (`kiln build`).
///
/// Layout (little-endian):
///
///     header [64 B]: magic "KILNENGN", u32 format version, u32 section count, u64 file size,
///                    u64 Hash64 of (header bytes 0..<24 ++ section table), 32 reserved bytes
///     section table [count × 64 B]: name (UTF-8, zero-padded to 32 B), u64 offset, u64 size, u64 Hash64, u64 0
///     sections, each at a 4096-byte boundary:
///         "tensors"            every tensor's data, each at a 4096-byte boundary (ggml block layout, then the
///                              packed copy when the format has one)
///         "gguf-metadata"      for GGUF sources: the source's metadata as a GGUF file without tensors
///         "hf:<file>"          for Hugging Face sources: config.json, tokenizer.json, tokenizer_config.json,
///                              generation_config.json, chat_template.jinja as they were
///         "metadata"           JSON `EngineMetadata`: source, limits, build plan, tensor table
///
/// Opening checks the header, the table's checksum, every section's bounds, the metadata's checksum and every
/// tensor's bounds (cheap: no tensor byte is read); `verify()` also hashes every section and tensor.
public final class EngineFile: @unchecked Sendable {
    public static let magic = Array("KILNENGN".utf8)
    /// The newest format this Kiln reads and the one it writes. Version 2 added the plan's folds (constants
    /// multiplied into stored tensors, which a version-1 reader would apply twice); version 1 files still load.
    public static let formatVersion: UInt32 = 2
    public static let headerBytes = 64
    public static let sectionEntryBytes = 64
    public static let sectionNameBytes = 32
    public static let alignment = 4096

    public struct Section: Sendable, Equatable {
        public let name: String
        public let offset: Int
        public let bytes: Int
        public let checksum: UInt64
    }

    public let path: String
    public let file: MappedFile
    public let version: UInt32
    public let sections: [Section]
    public let metadata: EngineMetadata
    private let tensorsSection: Section
    private let tensorIndex: [String: Int]
    /// part name → (fused tensor index, first row, rows)
    private let fusedParts: [String: (tensor: Int, row: Int, rows: Int)]

    /// Whether the file at `path` starts with the engine magic (the loaders' test for "is this an engine?").
    public static func hasMagic(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8)) ?? Data()
        return Array(head) == magic
    }

    public init(path: String) throws {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch let failure as MappedFile.Failure {
            throw FormatError(path, "\(failure)".replacingPrefix(path + ": ", with: ""))
        }
        self.path = path
        self.file = file
        func fail(_ problem: String) -> FormatError { FormatError(path, problem) }
        let rebuild = " (rebuild it with kiln build)"

        guard file.count >= Self.headerBytes else {
            throw fail("not a complete engine file: it is \(file.count) bytes long, shorter than the \(Self.headerBytes)-byte header")
        }
        let head = Array(UnsafeRawBufferPointer(start: file.base, count: 8))
        guard head == Self.magic else {
            if head.starts(with: Array("GGUF".utf8)) {
                throw fail("not a Kiln engine file: it is a GGUF file (run it directly, or build an engine with kiln build)")
            }
            throw fail("not a Kiln engine file: bad magic \(GGUFFile.describeMagic8(head)) (expected \"KILNENGN\")")
        }
        var r = ByteReader(base: file.base, count: file.count, path: path, offset: 8)
        version = try r.read(UInt32.self, "format version")
        guard version >= 1 else { throw fail("invalid engine format version 0" + rebuild) }
        guard version <= Self.formatVersion else {
            throw fail(
                "engine format version \(version) is newer than this Kiln reads (version \(Self.formatVersion)): update Kiln, or rebuild the engine with this one")
        }
        let count = Int(try r.read(UInt32.self, "section count"))
        let size = try r.read(UInt64.self, "file size")
        guard size == UInt64(file.count) else {
            if size > UInt64(file.count) {
                throw fail("file is truncated: its header says \(size) bytes, but the file has \(file.count)" + rebuild)
            }
            throw fail("file has \(UInt64(file.count) - size) unexpected bytes after its end (\(size) bytes)" + rebuild)
        }
        let tableChecksum = try r.read(UInt64.self, "header checksum")
        let tableEnd = Self.headerBytes + count * Self.sectionEntryBytes
        guard count <= 1024, tableEnd <= file.count else {
            throw fail("file is corrupt: its header claims \(count) sections" + rebuild)
        }
        guard Self.headerChecksum(file.base, sectionCount: count) == tableChecksum else {
            throw fail("file is corrupt: the header's checksum does not match" + rebuild)
        }
        var sections: [Section] = []
        for i in 0..<count {
            let entry = file.base + Self.headerBytes + i * Self.sectionEntryBytes
            let nameBytes = UnsafeRawBufferPointer(start: entry, count: Self.sectionNameBytes).prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            var e = ByteReader(base: entry, count: Self.sectionEntryBytes, path: path, offset: Self.sectionNameBytes)
            let offset = try e.read(UInt64.self, "section offset")
            let bytes = try e.read(UInt64.self, "section size")
            let checksum = try e.read(UInt64.self, "section checksum")
            guard offset >= UInt64(tableEnd), offset <= UInt64(file.count), bytes <= UInt64(file.count) - offset else {
                throw fail("file is corrupt: section '\(name)' lies outside the file" + rebuild)
            }
            sections.append(Section(name: name, offset: Int(offset), bytes: Int(bytes), checksum: checksum))
        }
        self.sections = sections
        guard let meta = sections.first(where: { $0.name == "metadata" }) else {
            throw fail("file is corrupt: it has no metadata section" + rebuild)
        }
        guard let tensors = sections.first(where: { $0.name == "tensors" }) else {
            throw fail("file is corrupt: it has no tensors section" + rebuild)
        }
        tensorsSection = tensors
        let metaBytes = UnsafeRawBufferPointer(start: file.base + meta.offset, count: meta.bytes)
        guard Hash64.hash(metaBytes) == meta.checksum else {
            throw fail("file is corrupt: the metadata section's checksum does not match" + rebuild)
        }
        do {
            metadata = try JSONDecoder().decode(EngineMetadata.self, from: Data(metaBytes))
        } catch {
            throw fail("file is corrupt: its metadata is not valid JSON of an engine (\(error))" + rebuild)
        }
        guard metadata.formatVersion == Int(version) else {
            throw fail("file is corrupt: its metadata says format \(metadata.formatVersion), its header \(version)")
        }

        var index: [String: Int] = [:]
        for (i, t) in metadata.tensors.enumerated() {
            guard let type = DType(rawValue: t.type) else {
                throw fail(
                    "tensor '\(t.name)' is stored in format id \(t.type), which this Kiln cannot run (it knows \(DType.allCases.map(\.description).joined(separator: ", "))): rebuild the engine with this Kiln")
            }
            let elements = t.shape.reduce(1) { $0.multipliedReportingOverflow(by: max($1, 0)).partialValue }
            guard !t.shape.isEmpty, t.shape.allSatisfy({ $0 > 0 }), type.byteCount(elements: elements) == t.bytes,
                t.shape.last! % type.blockElements == 0
            else {
                throw fail("file is corrupt: tensor '\(t.name)' has shape \(t.shape) and \(t.bytes) bytes of \(type)")
            }
            func inside(_ offset: Int, _ bytes: Int) -> Bool {
                offset >= 0 && bytes >= 0 && offset <= tensors.bytes && bytes <= tensors.bytes - offset
            }
            guard inside(t.offset, t.bytes) else {
                throw fail("file is truncated or corrupt: tensor '\(t.name)' lies outside the tensors section" + rebuild)
            }
            if let p = t.packed {
                let rows = t.shape.count == 1 ? 1 : t.shape.dropLast().reduce(1, *)
                guard inside(p.offset, p.bytes), p.rowBytes > 0, p.bytes == p.rowBytes * rows else {
                    throw fail("file is corrupt: the packed copy of '\(t.name)' is out of bounds" + rebuild)
                }
            }
            guard index.updateValue(i, forKey: t.name) == nil else {
                throw fail("file is corrupt: tensor '\(t.name)' appears twice" + rebuild)
            }
        }
        tensorIndex = index
        var parts: [String: (tensor: Int, row: Int, rows: Int)] = [:]
        for f in metadata.plan.fused {
            guard let i = index[f.name], f.parts.count == f.rows.count,
                f.rows.reduce(0, +) == metadata.tensors[i].shape.first, metadata.tensors[i].shape.count == 2
            else {
                throw fail("file is corrupt: fused tensor '\(f.name)' does not match its parts" + rebuild)
            }
            var row = 0
            for (name, rows) in zip(f.parts, f.rows) {
                parts[name] = (tensor: i, row: row, rows: rows)
                row += rows
            }
        }
        fusedParts = parts
    }

    /// A section's bytes, or nil when the engine has none of that name.
    public func section(_ name: String) -> UnsafeRawBufferPointer? {
        sections.first { $0.name == name }.map { UnsafeRawBufferPointer(start: file.base + $0.offset, count: $0.bytes) }
    }

    public func sectionData(_ name: String) -> Data? { section(name).map { Data($0) } }

    /// A tensor in place, by its own name or as one part (a run of rows) of a fused tensor.
    public struct TensorView {
        public let type: DType
        public let shape: [Int]
        public let data: UnsafeRawPointer
        /// The packed copy of these rows, and its bytes per row.
        public let packed: UnsafeRawPointer?
        public let packedRowBytes: Int
    }

    public func tensor(_ name: String) -> TensorView? {
        let base = file.base + tensorsSection.offset
        if let i = tensorIndex[name] {
            let t = metadata.tensors[i]
            return TensorView(
                type: DType(rawValue: t.type)!, shape: t.shape, data: base + t.offset,
                packed: t.packed.map { base + $0.offset }, packedRowBytes: t.packed?.rowBytes ?? 0)
        }
        guard let part = fusedParts[name] else { return nil }
        let (row, rows) = (part.row, part.rows)
        let t = metadata.tensors[part.tensor]
        let type = DType(rawValue: t.type)!
        let rowBytes = type.byteCount(elements: t.shape[1])!
        return TensorView(
            type: type, shape: [rows, t.shape[1]], data: base + t.offset + row * rowBytes,
            packed: t.packed.map { base + $0.offset + row * $0.rowBytes }, packedRowBytes: t.packed?.rowBytes ?? 0)
    }

    /// Names of the tensors a model binds: stored tensors that are not fused, and the parts of fused ones.
    public var tensorNames: [String] {
        let fused = Set(metadata.plan.fused.map(\.name))
        return metadata.tensors.map(\.name).filter { !fused.contains($0) } + fusedParts.keys.sorted()
    }

    /// Every section's and every tensor's checksum against the bytes; one line per mismatch (empty: intact).
    public func verify() -> [String] {
        var problems: [String] = []
        for s in sections {
            let h = Hash64.hash(UnsafeRawBufferPointer(start: file.base + s.offset, count: s.bytes))
            if h != s.checksum {
                problems.append("section '\(s.name)': checksum \(Hash64.hex(h)), expected \(Hash64.hex(s.checksum))")
            }
        }
        let base = file.base + tensorsSection.offset
        for t in metadata.tensors {
            if Hash64.hex(Hash64.hash(UnsafeRawBufferPointer(start: base + t.offset, count: t.bytes))) != t.checksum {
                problems.append("tensor '\(t.name)': data checksum does not match")
            }
            if let p = t.packed,
                Hash64.hex(Hash64.hash(UnsafeRawBufferPointer(start: base + p.offset, count: p.bytes))) != p.checksum
            {
                problems.append("tensor '\(t.name)': packed copy checksum does not match")
            }
        }
        return problems
    }

    /// Hash64 of header bytes 0..<24 followed by the section table.
    static func headerChecksum(_ base: UnsafeRawPointer, sectionCount: Int) -> UInt64 {
        var bytes = Array(UnsafeRawBufferPointer(start: base, count: 24))
        bytes += UnsafeRawBufferPointer(start: base + headerBytes, count: sectionCount * sectionEntryBytes)
        return bytes.withUnsafeBytes { Hash64.hash($0) }
    }
}

extension GGUFFile {
    static func describeMagic8(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return "\"" + String(decoding: bytes, as: UTF8.self) + "\"" }
        return bytes.map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
    }
}
