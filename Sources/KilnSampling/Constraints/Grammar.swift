/// The one form every constraint compiles to: a context-free grammar over bytes.
///
/// Regexes, JSON schemas, choice lists and GBNF all become `GrammarExpression`s bound to named rules; `lower()`
/// flattens them into llama.cpp-style rule alternatives (a run of byte sets and rule references ending in `end`),
/// which `ByteAutomaton` runs as a pushdown automaton. Character classes over Unicode scalars become alternatives of
/// UTF-8 byte-range sequences (`ByteSet.utf8`), so the automaton never decodes UTF-8.

/// A set of bytes, one bit each.
struct ByteSet: Hashable, Sendable {
    var bits = SIMD4<UInt64>(repeating: 0)

    init() {}
    init(_ byte: UInt8) { insert(byte) }
    init(_ range: ClosedRange<UInt8>) { for b in range { insert(b) } }

    mutating func insert(_ byte: UInt8) { bits[Int(byte >> 6)] |= 1 << UInt64(byte & 63) }
    func contains(_ byte: UInt8) -> Bool { bits[Int(byte >> 6)] & (1 << UInt64(byte & 63)) != 0 }
    var isEmpty: Bool { bits == SIMD4(repeating: 0) }
    func union(_ other: ByteSet) -> ByteSet {
        var s = self
        s.bits |= other.bits
        return s
    }
}

/// A grammar expression before lowering.
indirect enum GrammarExpression: Sendable {
    case empty
    case bytes(ByteSet)
    case sequence([GrammarExpression])
    case choice([GrammarExpression])
    case rule(Int)
    /// `min` to `max` (nil: unbounded) repetitions.
    case repeated(GrammarExpression, min: Int, max: Int?)

    static func literal(_ text: String) -> GrammarExpression { .sequence(text.utf8.map { .bytes(ByteSet($0)) }) }
    static func optional(_ e: GrammarExpression) -> GrammarExpression { .repeated(e, min: 0, max: 1) }
    static func star(_ e: GrammarExpression) -> GrammarExpression { .repeated(e, min: 0, max: nil) }

    /// The UTF-8 encodings of the scalars in `ranges` (surrogates excluded), as alternatives of byte-range runs.
    static func scalars(_ ranges: [ClosedRange<UInt32>]) -> GrammarExpression {
        var alternatives: [GrammarExpression] = []
        var single = ByteSet()
        for range in ranges {
            for piece in [range.clamped(to: 0...0xD7FF), range.clamped(to: 0xE000...0x10FFFF)]
            where piece.lowerBound <= piece.upperBound && range.overlaps(piece) {
                for run in utf8Runs(piece) {
                    if run.count == 1 {
                        for b in run[0] { single.insert(b) }
                    } else {
                        alternatives.append(.sequence(run.map { .bytes(ByteSet($0)) }))
                    }
                }
            }
        }
        if !single.isEmpty { alternatives.insert(.bytes(single), at: 0) }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    /// Splits a scalar range into runs of byte ranges whose product is exactly the range's UTF-8 encodings.
    static func utf8Runs(_ range: ClosedRange<UInt32>) -> [[ClosedRange<UInt8>]] {
        let limits: [UInt32] = [0x7F, 0x7FF, 0xFFFF, 0x10FFFF]
        var lo = range.lowerBound
        var out: [[ClosedRange<UInt8>]] = []
        for limit in limits where lo <= range.upperBound && lo <= limit {
            let hi = min(range.upperBound, limit)
            out += sameLengthRuns(lo, hi)
            lo = hi + 1
        }
        return out
    }

    private static func encode(_ v: UInt32) -> [UInt8] {
        Array(String(Unicode.Scalar(v) ?? "\u{FFFD}").utf8)
    }

    /// `lo` and `hi` encode to the same number of bytes.
    private static func sameLengthRuns(_ lo: UInt32, _ hi: UInt32) -> [[ClosedRange<UInt8>]] {
        if lo <= 0x7F { return [[UInt8(lo)...UInt8(hi)]] }
        let n = lo <= 0x7FF ? 2 : lo <= 0xFFFF ? 3 : 4
        // Split so that every continuation position spans its full range or the prefix is fixed.
        for i in 1..<n {
            let mask: UInt32 = (1 << (6 * UInt32(i))) - 1
            if lo & ~mask != hi & ~mask {
                if lo & mask != 0 { return sameLengthRuns(lo, lo | mask) + sameLengthRuns((lo | mask) + 1, hi) }
                if hi & mask != mask { return sameLengthRuns(lo, (hi & ~mask) - 1) + sameLengthRuns(hi & ~mask, hi) }
            }
        }
        let a = encodeRaw(lo, n)
        let b = encodeRaw(hi, n)
        return [zip(a, b).map { $0...$1 }]
    }

    /// UTF-8 encoding without the surrogate check (ranges here never contain surrogates).
    private static func encodeRaw(_ v: UInt32, _ n: Int) -> [UInt8] {
        switch n {
        case 2: return [UInt8(0xC0 | (v >> 6)), UInt8(0x80 | (v & 0x3F))]
        case 3: return [UInt8(0xE0 | (v >> 12)), UInt8(0x80 | ((v >> 6) & 0x3F)), UInt8(0x80 | (v & 0x3F))]
        default:
            return [
                UInt8(0xF0 | (v >> 18)), UInt8(0x80 | ((v >> 12) & 0x3F)), UInt8(0x80 | ((v >> 6) & 0x3F)),
                UInt8(0x80 | (v & 0x3F)),
            ]
        }
    }
}

/// Named rules under construction; rule 0 is the start rule.
struct GrammarBuilder {
    var names: [String] = []
    var bodies: [GrammarExpression?] = []

    mutating func declare(_ name: String) -> Int {
        names.append(name)
        bodies.append(nil)
        return names.count - 1
    }

    mutating func define(_ rule: Int, _ body: GrammarExpression) { bodies[rule] = body }

    mutating func add(_ name: String, _ body: GrammarExpression) -> Int {
        let id = declare(name)
        define(id, body)
        return id
    }
}

/// Limits that keep compilation bounded; a constraint over them is rejected with a message naming the limit.
public struct ConstraintLimits: Sendable {
    /// Elements (byte sets, rule references, ends) in the lowered grammar.
    public var maxGrammarElements = 200_000
    /// Schema nodes visited while compiling a JSON schema.
    public var maxSchemaNodes = 10_000
    /// The largest bounded repetition count (`{m,n}`, `maxLength`, `maxItems`).
    public var maxRepetition = 10_000
    /// Stacks in one automaton state (ambiguous grammars can multiply them).
    public var maxStacksPerState = 4_096
    /// Automaton states kept before the cache is cleared.
    public var maxCachedStates = 20_000

    public init() {}
}

/// The lowered grammar: flat elements, llama.cpp style.
///
/// `elements[i] >= 0` is an index into `sets` (match one byte of that set), `-1` ends an alternative, `<= -2`
/// references rule `-2 - elements[i]`. `alternatives[r]` holds the start positions of rule r's alternatives.
struct FlatGrammar: Sendable {
    var elements: [Int32] = []
    var sets: [ByteSet] = []
    var alternatives: [[Int32]] = []
    var names: [String] = []

    static let end: Int32 = -1
    static func reference(_ rule: Int) -> Int32 { Int32(-2 - rule) }
}

extension GrammarBuilder {
    /// Flattens the rules; fails on undefined rules, left recursion, or a grammar over `limits`.
    func lower(limits: ConstraintLimits) throws(ConstraintError) -> FlatGrammar {
        var lowering = Lowering(builder: self, limits: limits)
        for rule in 0..<names.count {
            guard let body = bodies[rule] else { throw .invalidGrammar("rule '\(names[rule])' is not defined") }
            lowering.rules[rule] = try lowering.alternatives(body)
        }
        var flat = FlatGrammar()
        flat.names = lowering.names
        var setIndex: [ByteSet: Int32] = [:]
        for alternatives in lowering.rules {
            var starts: [Int32] = []
            for alternative in alternatives ?? [] {
                starts.append(Int32(flat.elements.count))
                for symbol in alternative {
                    switch symbol {
                    case .bytes(let set):
                        let index =
                            setIndex[set]
                            ?? {
                                flat.sets.append(set)
                                setIndex[set] = Int32(flat.sets.count - 1)
                                return Int32(flat.sets.count - 1)
                            }()
                        flat.elements.append(index)
                    case .rule(let r): flat.elements.append(FlatGrammar.reference(r))
                    }
                }
                flat.elements.append(FlatGrammar.end)
            }
            flat.alternatives.append(starts)
        }
        guard flat.elements.count <= limits.maxGrammarElements else {
            throw .tooLarge(
                "the grammar has \(flat.elements.count) elements, over the limit of \(limits.maxGrammarElements)")
        }
        try flat.checkLeftRecursion()
        return flat
    }
}

private enum Symbol {
    case bytes(ByteSet)
    case rule(Int)
}

private struct Lowering {
    var names: [String]
    var rules: [[[Symbol]]?]
    let limits: ConstraintLimits
    var size = 0

    init(builder: GrammarBuilder, limits: ConstraintLimits) {
        names = builder.names
        rules = Array(repeating: nil, count: builder.names.count)
        self.limits = limits
    }

    mutating func fresh(_ alternatives: [[Symbol]]) -> Int {
        names.append("_\(names.count)")
        rules.append(alternatives)
        return names.count - 1
    }

    mutating func count(_ n: Int) throws(ConstraintError) {
        size += n
        if size > limits.maxGrammarElements {
            throw .tooLarge("the grammar has over \(limits.maxGrammarElements) elements")
        }
    }

    mutating func alternatives(_ e: GrammarExpression) throws(ConstraintError) -> [[Symbol]] {
        switch e {
        case .choice(let options):
            var out: [[Symbol]] = []
            for option in options { out += try alternatives(option) }
            return out
        default: return [try sequence(e)]
        }
    }

    mutating func sequence(_ e: GrammarExpression) throws(ConstraintError) -> [Symbol] {
        switch e {
        case .empty: return []
        case .bytes(let set): try count(1); return [.bytes(set)]
        case .rule(let r): try count(1); return [.rule(r)]
        case .sequence(let parts):
            var out: [Symbol] = []
            for part in parts { out += try sequence(part) }
            return out
        case .choice(let options):
            if options.count == 1 { return try sequence(options[0]) }
            try count(1)
            return [.rule(fresh(try alternatives(e)))]
        case .repeated(let inner, let min, let max):
            guard min <= limits.maxRepetition, (max ?? 0) <= limits.maxRepetition else {
                throw .tooLarge("a repetition count over the limit of \(limits.maxRepetition)")
            }
            guard max.map({ $0 >= min }) ?? true else { throw .invalidGrammar("repetition {\(min),\(max!)} is empty") }
            let unit = try symbol(inner)
            try count(min)
            var out = [Symbol](repeating: unit, count: min)
            if let max {
                // o_k ::= unit o_(k-1) | ε, built innermost first.
                var tail: Symbol? = nil
                for _ in 0..<(max - min) {
                    try count(2)
                    tail = .rule(fresh([[unit] + (tail.map { [$0] } ?? []), []]))
                }
                if let tail { out.append(tail) }
            } else {
                try count(2)
                let loop = fresh([])
                rules[loop] = [[unit, .rule(loop)], []]
                out.append(.rule(loop))
            }
            return out
        }
    }

    /// One symbol standing for `e`.
    mutating func symbol(_ e: GrammarExpression) throws(ConstraintError) -> Symbol {
        switch e {
        case .bytes(let set): return .bytes(set)
        case .rule(let r): return .rule(r)
        default: return .rule(fresh(try alternatives(e)))
        }
    }
}

extension FlatGrammar {
    /// Left recursion makes the automaton's expansion loop; reject it with the rule's name.
    func checkLeftRecursion() throws(ConstraintError) {
        // nullable[r]: rule r can match the empty string.
        var nullable = [Bool](repeating: false, count: alternatives.count)
        var changed = true
        while changed {
            changed = false
            for r in alternatives.indices where !nullable[r] {
                for start in alternatives[r] where prefixNullable(start, until: nil, nullable) {
                    nullable[r] = true
                    changed = true
                    break
                }
            }
        }
        // Left edges: rules reachable at the left edge of an alternative without consuming a byte. A cycle of them
        // loops forever only if some edge is not a tail call (a tail call replaces the stack top, so the stack stays
        // the same and the automaton's visited set stops it; any other reference grows the stack each time round).
        var edges = [[Int]](repeating: [], count: alternatives.count)
        var growing: [(Int, Int)] = []
        for r in alternatives.indices {
            for start in alternatives[r] {
                var p = Int(start)
                while elements[p] <= -2 {
                    let s = Int(-2 - elements[p])
                    edges[r].append(s)
                    if elements[p + 1] != FlatGrammar.end { growing.append((r, s)) }
                    guard nullable[s] else { break }
                    p += 1
                }
            }
        }
        for (r, s) in growing {
            var seen: Set<Int> = [s]
            var work = [s]
            while let x = work.popLast() {
                if x == r {
                    let name = names[r].hasPrefix("_") ? "a nested repetition or group" : "rule '\(names[r])'"
                    throw .invalidGrammar("left recursion through \(name)")
                }
                for y in edges[x] where seen.insert(y).inserted { work.append(y) }
            }
        }
    }

    private func prefixNullable(_ start: Int32, until: Int?, _ nullable: [Bool]) -> Bool {
        var p = Int(start)
        while true {
            let e = elements[p]
            if e == FlatGrammar.end { return true }
            if e >= 0 || !nullable[Int(-2 - e)] { return false }
            p += 1
        }
    }
}
