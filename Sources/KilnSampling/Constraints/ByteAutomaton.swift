/// A pushdown automaton over bytes for a `FlatGrammar`, determinized lazily.
///
/// A configuration is a stack of grammar positions (what to match next, innermost last), as in llama.cpp's grammar
/// engine; a reference in tail position replaces the top instead of pushing, so right recursion (every `x*`) keeps
/// the stack bounded. Because grammars can be ambiguous, a *state* is the sorted set of stacks the input so far
/// can be in, each expanded until its top is a byte set (an empty stack means the input may end here).
///
/// States are interned to small integers and their byte transitions memoized in a 256-wide table, so once a state
/// has been seen, advancing it is one array read: regexes and non-recursive schemas become a DFA built on demand,
/// and recursive grammars (any JSON, GBNF) a DFA over the stack contents actually reached. Not thread-safe: the
/// owner (`CompiledConstraint`) locks around it.
final class ByteAutomaton {
    let grammar: FlatGrammar
    let limits: ConstraintLimits
    private(set) var stacks: [[[Int32]]] = []  // state → sorted stacks
    private(set) var accepting: [Bool] = []  // state → holds an empty stack
    private var ids: [[[Int32]]: Int32] = [:]
    private var transitions: [Int32] = []  // [states, 256]: next state, -1 dead, -2 not computed
    /// Bumped whenever the cache is cleared: state ids from an older epoch must be re-interned from their stacks.
    private(set) var epoch = 0
    static let dead: Int32 = -1
    private static let unknown: Int32 = -2
    private let maxDepth = 10_000

    init(grammar: FlatGrammar, limits: ConstraintLimits) {
        self.grammar = grammar
        self.limits = limits
    }

    /// The start state: rule 0 expanded.
    func start() -> Int32 {
        intern(closure(grammar.alternatives[0].map { [$0] }))
    }

    /// The state after `byte`, or `dead`.
    func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        let slot = Int(state) &* 256 &+ Int(byte)
        let known = transitions[slot]
        if known != Self.unknown { return known }
        var seeds: [[Int32]] = []
        for stack in stacks[Int(state)] {
            guard let top = stack.last else { continue }
            if grammar.sets[Int(grammar.elements[Int(top)])].contains(byte) {
                var advanced = stack
                advanced[advanced.count - 1] = top + 1
                seeds.append(advanced)
            }
        }
        let result = seeds.isEmpty ? Self.dead : intern(closure(seeds))
        transitions[slot] = result
        return result
    }

    /// The id of a state given by its stacks (after a cache clear, or for a new one).
    func intern(_ set: [[Int32]]) -> Int32 {
        if set.isEmpty { return Self.dead }
        if let id = ids[set] { return id }
        let id = Int32(stacks.count)
        stacks.append(set)
        accepting.append(set.contains { $0.isEmpty })
        ids[set] = id
        transitions.append(contentsOf: repeatElement(Self.unknown, count: 256))
        return id
    }

    var stateCount: Int { stacks.count }

    /// Forgets every state (memory bound); callers re-intern theirs by stacks.
    func clear() {
        stacks.removeAll()
        accepting.removeAll()
        ids.removeAll()
        transitions.removeAll()
        epoch += 1
    }

    /// Expands stacks until each top is a byte set or the stack is empty; sorted and without duplicates.
    private func closure(_ seeds: [[Int32]]) -> [[Int32]] {
        var out: Set<[Int32]> = []
        var seen: Set<[Int32]> = []
        var work = seeds
        let elements = grammar.elements
        while let stack = work.popLast() {
            guard seen.insert(stack).inserted else { continue }
            guard let top = stack.last else {
                out.insert(stack)
                continue
            }
            let e = elements[Int(top)]
            if e >= 0 {
                out.insert(stack)
            } else if e == FlatGrammar.end {
                work.append(Array(stack.dropLast()))
            } else {
                var rest = Array(stack.dropLast())
                if elements[Int(top) + 1] != FlatGrammar.end { rest.append(top + 1) }
                guard rest.count < maxDepth else { continue }
                for start in grammar.alternatives[Int(-2 - e)] { work.append(rest + [start]) }
            }
            if out.count > limits.maxStacksPerState { break }
        }
        return out.sorted { $0.lexicographicallyPrecedes($1) }
    }
}
