import KilnTokenizers

/// Integer and number schemas: exact integer ranges as digit-by-digit alternatives (the classic range-to-regex
/// construction), and numbers as in-range integers or fractions strictly between two in-range integers.
extension JSONSchemaCompiler {
    static let maxMagnitude = 999_999_999_999_999  // 15 digits

    func bound(_ schema: JSONValue, _ key: String, _ path: String) throws(ConstraintError) -> Double? {
        guard let v = schema[key] else { return nil }
        if case .bool = v { throw .unsupported("boolean \(key) (draft 4) at \(path)") }
        guard let d = v.number else { throw .invalidSchema("\(key) at \(path) is not a number") }
        return d
    }

    /// The smallest and largest integers the bounds admit, clamped to 15 digits.
    func integerBounds(_ schema: JSONValue, _ path: String) throws(ConstraintError) -> (Int, Int) {
        var lo = -Double(Self.maxMagnitude)
        var hi = Double(Self.maxMagnitude)
        if let m = try bound(schema, "minimum", path) { lo = max(lo, m.rounded(.up)) }
        if let m = try bound(schema, "exclusiveMinimum", path) { lo = max(lo, m.rounded(.down) + 1) }
        if let m = try bound(schema, "maximum", path) { hi = min(hi, m.rounded(.down)) }
        if let m = try bound(schema, "exclusiveMaximum", path) { hi = min(hi, m.rounded(.up) - 1) }
        return (Int(max(lo, -Double(Self.maxMagnitude))), Int(min(hi, Double(Self.maxMagnitude))))
    }

    mutating func integer(_ schema: JSONValue, path: String) throws(ConstraintError) -> GrammarExpression {
        let (lo, hi) = try integerBounds(schema, path)
        guard lo <= hi else { throw .invalidSchema("no integer satisfies the bounds at \(path)") }
        return Self.integerRange(lo, hi)
    }

    mutating func number(_ schema: JSONValue, path: String) throws(ConstraintError) -> GrammarExpression {
        let (lo, hi) = try integerBounds(schema, path)
        let minimum = try bound(schema, "minimum", path)
        let exclusiveMinimum = try bound(schema, "exclusiveMinimum", path)
        let maximum = try bound(schema, "maximum", path)
        let exclusiveMaximum = try bound(schema, "exclusiveMaximum", path)
        let low = max(minimum ?? -1e15, exclusiveMinimum ?? -1e15)
        let high = min(maximum ?? 1e15, exclusiveMaximum ?? 1e15)
        let fraction = GrammarExpression.sequence([
            .literal("."), .repeated(.bytes(ByteSet(0x30...0x39)), min: 0, max: 8), .bytes(ByteSet(0x31...0x39)),
        ])
        var options: [GrammarExpression] = []
        if lo <= hi { options.append(Self.integerRange(lo, hi)) }
        // I.f lies in (I, I + 1): in range when I >= low and I + 1 <= high.
        let positiveLo = max(0, Int(max(low, -1e15).rounded(.up)))
        let positiveHi = Int(min(high, 1e15).rounded(.down)) - 1
        if positiveLo <= positiveHi {
            options.append(.sequence([Self.integerRange(positiveLo, min(positiveHi, Self.maxMagnitude)), fraction]))
        }
        // -I.f lies in (-(I + 1), -I): in range when -(I + 1) >= low and -I <= high.
        let negativeLo = max(0, Int((-min(high, 1e15)).rounded(.up)))
        let negativeHi = Int((-max(low, -1e15)).rounded(.down)) - 1
        if negativeLo <= negativeHi {
            options.append(
                .sequence([.literal("-"), Self.integerRange(negativeLo, min(negativeHi, Self.maxMagnitude)), fraction]))
        }
        guard !options.isEmpty else { throw .invalidSchema("no number satisfies the bounds at \(path)") }
        return .choice(options)
    }

    /// Decimal integers in `lo...hi`, without leading zeros or "-0".
    static func integerRange(_ lo: Int, _ hi: Int) -> GrammarExpression {
        if hi < 0 { return .sequence([.literal("-"), nonNegativeRange(-hi, -lo)]) }
        if lo >= 0 { return nonNegativeRange(lo, hi) }
        return .choice([.sequence([.literal("-"), nonNegativeRange(1, -lo)]), nonNegativeRange(0, hi)])
    }

    static func nonNegativeRange(_ lo: Int, _ hi: Int) -> GrammarExpression {
        var options: [GrammarExpression] = []
        var length = String(lo).count
        while length <= String(hi).count {
            let floor = length == 1 ? 0 : Int(pow10(length - 1))
            let ceiling = Int(pow10(length)) - 1
            let a = max(lo, floor)
            let b = min(hi, ceiling)
            if a <= b { options.append(sameLength(Array(String(a).utf8), Array(String(b).utf8))) }
            length += 1
        }
        return options.count == 1 ? options[0] : .choice(options)
    }

    static func pow10(_ n: Int) -> Int {
        var p = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    /// Digit strings of equal length from `a` to `b`.
    static func sameLength(_ a: [UInt8], _ b: [UInt8]) -> GrammarExpression {
        let digit = GrammarExpression.bytes(ByteSet(0x30...0x39))
        if a.count == 1 { return .bytes(ByteSet(a[0]...b[0])) }
        let restA = Array(a.dropFirst())
        let restB = Array(b.dropFirst())
        if a[0] == b[0] { return .sequence([.bytes(ByteSet(a[0])), sameLength(restA, restB)]) }
        if restA.allSatisfy({ $0 == 0x30 }) && restB.allSatisfy({ $0 == 0x39 }) {
            return .sequence([.bytes(ByteSet(a[0]...b[0])), .repeated(digit, min: a.count - 1, max: a.count - 1)])
        }
        var options: [GrammarExpression] = [
            .sequence([.bytes(ByteSet(a[0])), sameLength(restA, [UInt8](repeating: 0x39, count: restA.count))])
        ]
        if a[0] + 1 <= b[0] - 1 {
            options.append(
                .sequence([
                    .bytes(ByteSet((a[0] + 1)...(b[0] - 1))), .repeated(digit, min: a.count - 1, max: a.count - 1),
                ]))
        }
        options.append(
            .sequence([.bytes(ByteSet(b[0])), sameLength([UInt8](repeating: 0x30, count: restB.count), restB)]))
        return .choice(options)
    }
}
