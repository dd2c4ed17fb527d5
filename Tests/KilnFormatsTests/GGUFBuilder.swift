import Foundation
import KilnFormats
import KilnTensors

/// Writes small GGUF files byte by byte, so tests can make valid files and precisely broken ones.
struct GGUFBuilder {
    var version: UInt32 = 3
    var magic: [UInt8] = Array("GGUF".utf8)
    var metadata: [(String, GGUFValue)] = []
    /// (name, dims innermost first, raw type, bytes)
    var tensors: [(String, [Int], UInt32, [UInt8])] = []
    var alignment = 32

    func bytes() -> [UInt8] {
        var out = magic
        out += le(version)
        out += le(UInt64(tensors.count))
        out += le(UInt64(metadata.count))
        for (key, value) in metadata {
            out += string(key)
            out += le(Self.typeID(value))
            out += encode(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for (_, _, _, data) in tensors {
            offsets.append(offset)
            offset = (offset + data.count + alignment - 1) / alignment * alignment
        }
        for (i, (name, dims, type, _)) in tensors.enumerated() {
            out += string(name)
            out += le(UInt32(dims.count))
            for d in dims { out += le(UInt64(d)) }
            out += le(type)
            out += le(UInt64(offsets[i]))
        }
        while out.count % alignment != 0 { out.append(0) }
        for (i, (_, _, _, data)) in tensors.enumerated() {
            let start = out.count
            out += data
            let end = i + 1 < tensors.count ? start + (offsets[i + 1] - offsets[i]) : out.count
            while out.count < end { out.append(0) }
        }
        return out
    }

    func write(to path: String) throws {
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
    }

    static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    func encode(_ v: GGUFValue) -> [UInt8] {
        switch v {
        case .uint8(let x): return [x]
        case .int8(let x): return [UInt8(bitPattern: x)]
        case .uint16(let x): return le(x)
        case .int16(let x): return le(x)
        case .uint32(let x): return le(x)
        case .int32(let x): return le(x)
        case .uint64(let x): return le(x)
        case .int64(let x): return le(x)
        case .float32(let x): return le(x.bitPattern)
        case .float64(let x): return le(x.bitPattern)
        case .bool(let x): return [x ? 1 : 0]
        case .string(let s): return string(s)
        case .array(let items):
            let elementType = items.first.map(Self.typeID) ?? 0
            var out = le(elementType) + le(UInt64(items.count))
            for item in items { out += encode(item) }
            return out
        }
    }

    func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x.littleEndian) { Array($0) } }
}

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
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
