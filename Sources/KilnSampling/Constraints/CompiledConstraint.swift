import Synchronization

/// A compiled constraint: the automaton of its grammar over one vocabulary, with the allowed tokens of each state
/// it has been asked about. Shared by every request with the same constraint (see `ConstraintCompiler`); each
/// sequence walks it with its own `ConstraintMatcher`.
///
/// A state's allowed tokens come from one walk of the vocabulary trie from that state, pruning a subtree as soon as
/// the automaton dies on its bytes, so the cost is proportional to the live transitions, not to vocabulary ×
/// grammar. The result is cached per state, so a sequence revisiting a state (every character inside a JSON string,
/// say) pays one dictionary look-up.
public final class CompiledConstraint: @unchecked Sendable {
    public let vocabulary: TokenVocabulary
    private let automaton: ByteAutomaton
    private var allowedByState: [Int32: TokenBitset] = [:]
    private let lock = Mutex(())
    private let startStacks: [[Int32]]

    init(grammar: FlatGrammar, vocabulary: TokenVocabulary, limits: ConstraintLimits) throws(ConstraintError) {
        self.vocabulary = vocabulary
        automaton = ByteAutomaton(grammar: grammar, limits: limits)
        let start = automaton.start()
        guard start != ByteAutomaton.dead else { throw .invalidGrammar("the grammar matches nothing") }
        startStacks = automaton.stacks[Int(start)]
    }

    /// A matcher at the start of the constraint.
    public func makeMatcher() -> ConstraintMatcher {
        lock.withLock { _ in
            ConstraintMatcher(
                constraint: self, state: automaton.intern(startStacks), epoch: automaton.epoch, stacks: startStacks)
        }
    }

    /// States created so far (for benchmarks and tests).
    public var stateCount: Int { lock.withLock { _ in automaton.stateCount } }

    /// Brings a matcher's state id up to date after a cache clear.
    private func refresh(_ m: inout ConstraintMatcher) {
        if automaton.stateCount > automaton.limits.maxCachedStates {
            automaton.clear()
            allowedByState.removeAll()
        }
        if m.epoch != automaton.epoch {
            m.state = automaton.intern(m.stacks)
            m.epoch = automaton.epoch
        }
    }

    func allowed(_ m: inout ConstraintMatcher) -> TokenBitset {
        lock.withLock { _ in
            refresh(&m)
            if let cached = allowedByState[m.state] { return cached }
            let bits = computeAllowed(m.state)
            allowedByState[m.state] = bits
            return bits
        }
    }

    func advance(_ m: inout ConstraintMatcher, bytes: [UInt8]) -> Bool {
        lock.withLock { _ in
            refresh(&m)
            var state = m.state
            for byte in bytes {
                state = automaton.next(state, byte)
                if state == ByteAutomaton.dead { return false }
            }
            m.state = state
            m.stacks = automaton.stacks[Int(state)]
            return true
        }
    }

    func isAccepting(_ m: inout ConstraintMatcher) -> Bool {
        lock.withLock { _ in
            refresh(&m)
            return automaton.accepting[Int(m.state)]
        }
    }

    /// Depth-first over the trie, carrying the automaton state reached by each node's bytes.
    private func computeAllowed(_ state: Int32) -> TokenBitset {
        let v = vocabulary
        var bits = TokenBitset(count: v.size)
        if automaton.accepting[Int(state)] { for id in v.endOfSequence { bits.allow(id) } }
        var work: [(node: Int32, state: Int32)] = [(0, state)]
        while let (node, from) = work.popLast() {
            var child = v.firstChild[Int(node)]
            while child != -1 {
                let to = automaton.next(from, v.nodeByte[Int(child)])
                if to != ByteAutomaton.dead {
                    for id in v.tokensAt[Int(child)] { bits.allow(id) }
                    if v.firstChild[Int(child)] != -1 { work.append((child, to)) }
                }
                child = v.nextSibling[Int(child)]
            }
        }
        return bits
    }
}

/// One sequence's position in a compiled constraint.
public struct ConstraintMatcher: Sendable {
    let constraint: CompiledConstraint
    var state: Int32
    var epoch: Int
    var stacks: [[Int32]]

    /// The tokens allowed next: those whose bytes keep the constraint alive, plus end-of-sequence where the
    /// constraint may end. When the constraint is complete and nothing may follow, that is end-of-sequence alone.
    public mutating func allowedTokens() -> TokenBitset { constraint.allowed(&self) }

    /// Advances over a sampled token; false (and no change) when the token is not allowed. End-of-sequence and
    /// other special tokens do not move the matcher.
    @discardableResult
    public mutating func accept(_ token: Int32) -> Bool {
        guard token >= 0, Int(token) < constraint.vocabulary.size else { return false }
        let bytes = constraint.vocabulary.tokenBytes[Int(token)]
        if bytes.isEmpty { return constraint.vocabulary.endOfSequence.contains(token) && isAccepting }
        return constraint.advance(&self, bytes: bytes)
    }

    /// Advances over raw bytes (tests and tools).
    public mutating func accept(bytes: [UInt8]) -> Bool { constraint.advance(&self, bytes: bytes) }

    /// Whether the text so far is a complete match.
    public var isAccepting: Bool {
        mutating get { constraint.isAccepting(&self) }
    }
}
