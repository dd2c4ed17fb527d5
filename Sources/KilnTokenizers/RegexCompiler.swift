/// Compiling a parsed pattern into `Regex` instructions: alternation and repetition become `split`s
/// in priority order; possessive repetition, lookahead and atomic groups become sub-programs.
struct RegexCompiler {
    var program: [Regex.Instruction] = []
    var sets: [ScalarSet] = []

    mutating func emitProgram(_ node: RegexNode) {
        emit(node)
        program.append(.match)
    }

    private mutating func emit(_ node: RegexNode) {
        switch node {
        case .set(let set):
            sets.append(set)
            program.append(.set(sets.count - 1))
        case .sequence(let items):
            for item in items { emit(item) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = program.count
                    program.append(.split(primary: split + 1, secondary: -1))
                    emit(branch)
                    jumps.append(program.count)
                    program.append(.jump(-1))
                    program[split] = .split(primary: split + 1, secondary: program.count)
                } else {
                    emit(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repeated(let body, let min, let max, let mode):
            if mode == .possessive {
                emitSubprogram(.repeated(body, min: min, max: max, mode: .greedy)) { .atomic(body: $0) }
                return
            }
            for _ in 0..<min { emit(body) }
            if let max {
                // Each optional copy: split over (body, rest).
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    program.append(.split(primary: -1, secondary: -1))
                    emit(body)
                }
                let end = program.count
                for s in splits { program[s] = order(s + 1, end, mode) }
            } else {
                let loop = program.count
                program.append(.split(primary: -1, secondary: -1))
                emit(body)
                program.append(.jump(loop))
                program[loop] = order(loop + 1, program.count, mode)
            }
        case .assert(let anchor):
            program.append(.assert(anchor))
        case .lookahead(let body, let negated):
            emitSubprogram(body) { .lookahead(body: $0, negated: negated) }
        case .atomic(let body):
            emitSubprogram(body) { .atomic(body: $0) }
        }
    }

    private func order(_ body: Int, _ exit: Int, _ mode: RegexNode.RepeatMode) -> Regex.Instruction {
        mode == .lazy ? .split(primary: exit, secondary: body) : .split(primary: body, secondary: exit)
    }

    /// Emits `instruction(bodyStart)`, then jumps over the body, which ends in `.match`.
    private mutating func emitSubprogram(_ body: RegexNode, _ instruction: (Int) -> Regex.Instruction) {
        let at = program.count
        program.append(.match)  // placeholder
        let skip = program.count
        program.append(.jump(-1))
        let start = program.count
        emit(body)
        program.append(.match)
        program[at] = instruction(start)
        program[skip] = .jump(program.count)
    }
}
