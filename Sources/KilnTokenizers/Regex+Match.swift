/// The backtracking machine that runs a compiled `Regex` over scalars.
///
/// A thread is (instruction, position); `split` pushes its second choice on a stack and follows its first,
/// and a failed thread resumes the newest saved choice, which is exactly the order in which a
/// backtracking engine like Oniguruma tries alternatives. Lookaheads and atomic groups run their body as
/// a nested machine, keeping only its first match.
extension Regex {
    /// The end of the first (highest-priority) match starting exactly at `start`, or nil.
    func match(_ s: [UInt32], at start: Int, in bounds: Range<Int>) -> Int? {
        var stack: [(Int32, Int32)] = []
        return run(s, 0, start, bounds, &stack)
    }

    /// Non-overlapping matches in `bounds`, leftmost first, as Oniguruma's search loop finds them: after
    /// an empty match the search resumes one scalar later.
    func matches(_ s: [UInt32], in bounds: Range<Int>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var stack: [(Int32, Int32)] = []
        var position = bounds.lowerBound
        while position <= bounds.upperBound {
            stack.removeAll(keepingCapacity: true)
            if let end = run(s, 0, position, bounds, &stack) {
                found.append(position..<end)
                position = end > position ? end : position + 1
            } else {
                position += 1
            }
        }
        return found
    }

    private func run(
        _ s: [UInt32], _ entry: Int, _ start: Int, _ bounds: Range<Int>, _ stack: inout [(Int32, Int32)]
    ) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = entry
        var pos = start
        var budget = 1_000_000  // guards against patterns that backtrack exponentially
        while true {
            budget -= 1
            var ok = budget > 0
            if ok {
                switch program[pc] {
                case .set(let index):
                    if pos < bounds.upperBound && sets[index].contains(s[pos]) {
                        pos += 1
                        pc += 1
                    } else {
                        ok = false
                    }
                case .split(let primary, let secondary):
                    stack.append((Int32(secondary), Int32(pos)))
                    pc = primary
                case .jump(let target):
                    pc = target
                case .assert(let anchor):
                    if holds(anchor, s, pos, bounds) { pc += 1 } else { ok = false }
                case .lookahead(let body, let negated):
                    var inner: [(Int32, Int32)] = []
                    let matched = run(s, body, pos, bounds, &inner) != nil
                    if matched != negated { pc += 1 } else { ok = false }
                case .atomic(let body):
                    var inner: [(Int32, Int32)] = []
                    if let end = run(s, body, pos, bounds, &inner) {
                        pos = end
                        pc += 1
                    } else {
                        ok = false
                    }
                case .match:
                    return pos
                }
            }
            if !ok {
                guard stack.count > base, budget > 0 else { return nil }
                let (nextPC, nextPos) = stack.removeLast()
                pc = Int(nextPC)
                pos = Int(nextPos)
            }
        }
    }

    private func holds(_ anchor: Anchor, _ s: [UInt32], _ pos: Int, _ bounds: Range<Int>) -> Bool {
        let atStart = pos == bounds.lowerBound
        let atEnd = pos == bounds.upperBound
        switch anchor {
        case .lineStart: return atStart || s[pos - 1] == 0x0A
        case .lineEnd: return atEnd || s[pos] == 0x0A
        case .textStart: return atStart
        case .textEnd: return atEnd
        case .textEndBeforeNewline: return atEnd || (pos + 1 == bounds.upperBound && s[pos] == 0x0A)
        case .wordBoundary, .notWordBoundary:
            let before = !atStart && UnicodeClass.word.contains(s[pos - 1])
            let after = !atEnd && UnicodeClass.word.contains(s[pos])
            return (before != after) == (anchor == .wordBoundary)
        }
    }
}
