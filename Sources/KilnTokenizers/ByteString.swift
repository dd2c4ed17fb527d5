/// A byte string used as a dictionary key.
///
/// Swift `String` equality is canonical equivalence ("é" == "e\u{301}"), but a vocabulary may hold both
/// spellings as different tokens, so vocabularies are keyed by their UTF-8 bytes instead.
struct ByteString: Hashable, Sendable {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ string: String) { self.bytes = Array(string.utf8) }
    init(_ slice: ArraySlice<UInt8>) { self.bytes = Array(slice) }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteString, b: ByteString) -> Bool { a.bytes == b.bytes }
}

/// GPT-2's reversible map from bytes to printable characters, so byte-level vocabularies can be stored as
/// text: printable Latin-1 bytes stand for themselves, the other 68 map to U+0100 onwards in byte order.
enum ByteLevelAlphabet {
    /// The character each byte is spelled with. [256]
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or nil when the character is not in the alphabet.
    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() { map[scalar] = UInt8(byte) }
        return map
    }()

    /// The byte-level spelling of raw bytes.
    static func spell<S: Sequence<UInt8>>(_ bytes: S) -> String {
        var out = String.UnicodeScalarView()
        for byte in bytes { out.append(Unicode.Scalar(scalarForByte[Int(byte)])!) }
        return String(out)
    }

    /// The raw bytes of a byte-level spelling, or nil if some character is outside the alphabet.
    static func unspell(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            guard let byte = byteForScalar[scalar.value] else { return nil }
            out.append(byte)
        }
        return out
    }
}
