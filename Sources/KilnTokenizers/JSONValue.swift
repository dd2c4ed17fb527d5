/// A small JSON reader for tokenizer files (and, in KilnSampling, JSON schemas).
///
/// Foundation's JSONSerialization returns `[String: Any]`, whose keys compare by canonical equivalence:
/// a vocabulary holding both "य़" (U+095F) and "य़" (U+092F U+093C) loses one of them (Gemma 3 has 434
/// such pairs). Objects here keep every member, in file order, with its exact scalars.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func parse(_ bytes: [UInt8]) throws(TokenizerError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        let value = try parser.value()
        parser.skipSpace()
        guard parser.position == bytes.count else { throw parser.failure("trailing characters") }
        return value
    }

    /// A member of an object by key (first match); nil for absent keys and non-objects.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var members: [(key: String, value: JSONValue)]? { if case .object(let m) = self { m } else { nil } }
    public var int: Int? {
        guard case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 else { return nil }
        return Int(d)
    }
    public var number: Double? { if case .number(let d) = self { d } else { nil } }
    public var isNull: Bool { if case .null = self { true } else { false } }
}

private struct JSONParser {
    let bytes: [UInt8]
    var position = 0

    func failure(_ what: String) -> TokenizerError {
        .malformed("JSON: \(what) at byte \(position)")
    }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
    }

    mutating func value() throws(TokenizerError) -> JSONValue {
        skipSpace()
        guard position < bytes.count else { throw failure("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            skipSpace()
            if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipSpace()
                let key = try string()
                skipSpace()
                try expect(":")
                members.append((key, try value()))
                skipSpace()
                if try endOrComma("}") { return .object(members) }
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipSpace()
            if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                items.append(try value())
                skipSpace()
                if try endOrComma("]") { return .array(items) }
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func expect(_ character: Unicode.Scalar) throws(TokenizerError) {
        guard position < bytes.count, bytes[position] == UInt8(ascii: character) else {
            throw failure("expected '\(character)'")
        }
        position += 1
    }

    private mutating func endOrComma(_ close: Unicode.Scalar) throws(TokenizerError) -> Bool {
        guard position < bytes.count else { throw failure("unexpected end") }
        if bytes[position] == UInt8(ascii: close) {
            position += 1
            return true
        }
        try expect(",")
        return false
    }

    private mutating func literal(_ word: String) throws(TokenizerError) {
        let utf8 = Array(word.utf8)
        guard position + utf8.count <= bytes.count, bytes[position..<(position + utf8.count)].elementsEqual(utf8) else {
            throw failure("expected '\(word)'")
        }
        position += utf8.count
    }

    private mutating func number() throws(TokenizerError) -> Double {
        let start = position
        while position < bytes.count, "+-0123456789.eE".utf8.contains(bytes[position]) { position += 1 }
        guard position > start, let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else {
            throw failure("invalid value")
        }
        return value
    }

    private mutating func string() throws(TokenizerError) -> String {
        try expect("\"")
        let start = position
        // Fast path: no escapes.
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
            position += 1
        }
        guard position < bytes.count else { throw failure("unterminated string") }
        if bytes[position] == UInt8(ascii: "\"") {
            position += 1
            return String(decoding: bytes[start..<position - 1], as: UTF8.self)
        }
        var out = Array(bytes[start..<position])
        while true {
            guard position < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: "\"") { break }
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard position < bytes.count else { throw failure("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                {
                    let saved = position
                    position += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position = saved
                    }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default: out.append(escape)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex4() throws(TokenizerError) -> UInt32 {
        guard position + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16)
        else { throw failure("invalid \\u escape") }
        position += 4
        return value
    }
}
