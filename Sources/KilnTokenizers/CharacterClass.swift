/// The character classes the split patterns test: `\p{L}`, `\p{N}`, `\s` and everything else.
///
/// `\s` follows the Unicode White_Space property, which is what Oniguruma (used by Hugging Face
/// `tokenizers`) matches for `\s` in Unicode mode; letters and numbers follow the general category.
enum CharacterClass: UInt8, Sendable {
    case letter, number, whitespace, other

    private static let ascii: [CharacterClass] = (0..<128).map { value in
        let scalar = Unicode.Scalar(UInt8(value))
        return classifySlow(scalar)
    }

    @inline(__always)
    static func of(_ value: UInt32) -> CharacterClass {
        if value < 128 { return ascii[Int(value)] }
        return classifySlow(Unicode.Scalar(value) ?? " ")
    }

    private static func classifySlow(_ scalar: Unicode.Scalar) -> CharacterClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}

/// A run of text being pre-tokenized: its scalars and their classes, addressed by scalar index.
struct ScalarText {
    var scalars: [UInt32] = []  // [n]
    var classes: [CharacterClass] = []  // [n]
    var utf8Offsets: [Int] = []  // [n + 1], byte offset of each scalar in the UTF-8 text

    init(utf8 bytes: ArraySlice<UInt8>) {
        scalars.reserveCapacity(bytes.count)
        classes.reserveCapacity(bytes.count)
        utf8Offsets.reserveCapacity(bytes.count + 1)
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                utf8Offsets.append(offset)
                scalars.append(scalar.value)
                classes.append(CharacterClass.of(scalar.value))
                offset += UTF8.width(scalar)
            case .emptyInput: break loop
            case .error:
                // Inputs come from Swift strings, so this is unreachable; keep offsets consistent anyway.
                utf8Offsets.append(offset)
                scalars.append(0xFFFD)
                classes.append(.other)
                offset += 1
            }
        }
        utf8Offsets.append(offset)
    }

    /// The byte-level spelling of `bytes`: scalar i stands for byte i, and offsets stay those of `bytes`.
    init(byteLevel bytes: ArraySlice<UInt8>) {
        scalars = bytes.map { ByteLevelAlphabet.scalarForByte[Int($0)] }
        classes = scalars.map { CharacterClass.of($0) }
        utf8Offsets = Array(0...bytes.count)
    }

    var count: Int { scalars.count }
}
