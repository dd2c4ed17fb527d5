/// A bounds-checked little-endian cursor over a mapped file. Every read checks the remaining length first, so a
/// truncated or lying file becomes a `FormatError`, never an out-of-bounds access.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    let path: String
    var offset: Int = 0

    var remaining: Int { count - offset }

    func error(_ problem: String) -> FormatError { FormatError(path, problem) }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw error("file is truncated: \(what()) needs \(n) bytes at offset \(offset), but only \(remaining) remain")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A length-prefixed (u64) UTF-8 string. Invalid UTF-8 is repaired rather than rejected, as vocabularies
    /// sometimes hold partial byte sequences; callers that need raw bytes use `readStringBytes`.
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let n = try read(UInt64.self, what())
        guard n <= UInt64(remaining) else {
            throw error("file is truncated or corrupt: \(what()) claims \(n) bytes at offset \(offset), but only \(remaining) remain")
        }
        let len = Int(n)
        let s = String(
            decoding: UnsafeRawBufferPointer(start: base + offset, count: len), as: UTF8.self)
        offset += len
        return s
    }

    mutating func skip(_ n: Int, _ what: @autoclosure () -> String) throws {
        try need(n, what())
        offset += n
    }
}
