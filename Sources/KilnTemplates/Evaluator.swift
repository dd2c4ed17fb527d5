/// Expression evaluation with Python's operator semantics (as Jinja2 delegates to Python).
extension Interpreter {
    func evaluate(_ expression: Expression) throws -> Value {
        switch expression {
        case .literal(let value):
            return value
        case .name(let name, _):
            if let value = lookup(name) { return value }
            return Builtins.names.contains(name) ? .callable(.builtin(name)) : .undefined
        case .list(let items), .tuple(let items):
            return .array(try items.map { try evaluate($0) })
        case .dict(let pairs):
            var object = OrderedObject()
            for pair in pairs { object[try evaluate(pair.key).pythonString] = try evaluate(pair.value) }
            return .object(object)
        case .attribute(let base, let name, let line):
            let value = try evaluate(base)
            if value.isUndefined { throw undefinedError(base, line: line) }
            return attribute(of: value, name)
        case .subscript(let base, let index, let line):
            let value = try evaluate(base)
            if value.isUndefined { throw undefinedError(base, line: line) }
            return try item(of: value, try evaluate(index), line: line)
        case .slice(let base, let start, let stop, let step, let line):
            let value = try evaluate(base)
            if value.isUndefined { throw undefinedError(base, line: line) }
            return try slice(
                value, start: try start.map { try evaluate($0) }, stop: try stop.map { try evaluate($0) },
                step: try step.map { try evaluate($0) }, line: line)
        case .call(let callee, let arguments, let line):
            let function = try evaluate(callee)
            guard case .callable(let callable) = function else {
                if function.isUndefined { throw undefinedError(callee, line: line) }
                throw TemplateError(.runtime, line: line, "'\(function.typeName)' object is not callable")
            }
            do {
                return try call(callable, arguments: try evaluate(arguments), line: line)
            } catch let error as TemplateError {
                throw error.at(line)
            }
        case .filter(let base, let filter):
            return try applyFilter(filter, to: try evaluate(base))
        case .test(let base, let name, let arguments, let negated, let line):
            let value = try evaluate(base)
            do {
                let result = try Predicates.apply(name, to: value, arguments: try evaluate(arguments).positional)
                return .bool(result != negated)
            } catch let error as TemplateError {
                throw error.at(line)
            }
        case .not(let inner):
            return .bool(!(try evaluate(inner).isTruthy))
        case .negate(let inner, let line):
            switch try evaluate(inner) {
            case .int(let i): return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case let other: throw TemplateError(.runtime, line: line, "bad operand type for unary -: '\(other.typeName)'")
            }
        case .and(let a, let b):
            let left = try evaluate(a)
            return left.isTruthy ? try evaluate(b) : left
        case .or(let a, let b):
            let left = try evaluate(a)
            return left.isTruthy ? left : try evaluate(b)
        case .binary(let op, let a, let b, let line):
            let left = try evaluate(a)
            let right = try evaluate(b)
            if op == "~" { return .string(left.pythonString + right.pythonString) }
            if left.isUndefined { throw undefinedError(a, line: line) }
            if right.isUndefined { throw undefinedError(b, line: line) }
            do {
                return try Operators.binary(op, left, right)
            } catch let error as TemplateError {
                throw error.at(line)
            }
        case .compare(let first, let chain, let line):
            var left = try evaluate(first)
            for (op, operand) in chain {
                let right = try evaluate(operand)
                do {
                    guard try Operators.compare(op, left, right) else { return .bool(false) }
                } catch let error as TemplateError {
                    throw error.at(line)
                }
                left = right
            }
            return .bool(true)
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map { try evaluate($0) } ?? .undefined
        }
    }

    func evaluate(_ arguments: Arguments) throws -> (positional: [Value], keyword: [(String, Value)]) {
        (try arguments.positional.map { try evaluate($0) }, try arguments.keyword.map { ($0.name, try evaluate($0.value)) })
    }

    func applyFilter(_ filter: FilterCall, to value: Value) throws -> Value {
        do {
            let arguments = try evaluate(filter.arguments)
            return try Filters.apply(filter.name, to: value, arguments: CallArguments(arguments), interpreter: self)
        } catch let error as TemplateError {
            throw error.at(filter.line)
        }
    }

    private func undefinedError(_ expression: Expression, line: Int) -> TemplateError {
        switch expression {
        case .name(let name, _):
            return TemplateError(.runtime, line: line, "'\(name)' is undefined")
        case .attribute(let base, let name, _):
            let owner = (try? evaluate(base))?.typeName ?? "object"
            return TemplateError(.runtime, line: line, "'\(owner) object' has no attribute '\(name)'")
        case .subscript(let base, let index, _):
            let owner = (try? evaluate(base))?.typeName ?? "object"
            let key = (try? evaluate(index))?.pythonRepr ?? "?"
            return TemplateError(.runtime, line: line, "'\(owner) object' has no attribute or item \(key)")
        default:
            return TemplateError(.runtime, line: line, "an undefined value was used")
        }
    }

    /// `value.name`: dict methods win over keys of the same name (Python's getattr comes first), then keys.
    func attribute(of value: Value, _ name: String) -> Value {
        switch value {
        case .object(let object):
            if Methods.dictionary.contains(name) { return .callable(.method(value, name)) }
            return object[name] ?? .undefined
        case .string:
            return Methods.string.contains(name) ? .callable(.method(value, name)) : .undefined
        case .array:
            return Methods.list.contains(name) ? .callable(.method(value, name)) : .undefined
        case .namespace(let ns):
            return ns.attributes[name] ?? .undefined
        default:
            return .undefined
        }
    }

    /// `value[index]`: keys and indices first, then attributes (so `d['items']` finds the method when no key does).
    func item(of value: Value, _ index: Value, line: Int) throws -> Value {
        switch (value, index) {
        case (.object(let object), _):
            guard case .string(let key) = index else { return .undefined }
            return object[key] ?? attribute(of: value, key)
        case (.array(let items), _):
            guard let i = index.integer else {
                if case .string(let name) = index { return attribute(of: value, name) }
                throw TemplateError(.runtime, line: line, "list indices must be integers, not \(index.typeName)")
            }
            let position = i < 0 ? items.count + i : i
            return items.indices.contains(position) ? items[position] : .undefined
        case (.string(let s), _):
            guard let i = index.integer else {
                if case .string(let name) = index { return attribute(of: value, name) }
                throw TemplateError(.runtime, line: line, "string indices must be integers, not \(index.typeName)")
            }
            let scalars = Array(s.unicodeScalars)
            let position = i < 0 ? scalars.count + i : i
            return scalars.indices.contains(position) ? .string(String(scalars[position])) : .undefined
        case (.namespace(let ns), .string(let name)):
            return ns.attributes[name] ?? .undefined
        default:
            return .undefined
        }
    }

    /// Python slicing of lists and strings, negative indices and steps included.
    func slice(_ value: Value, start: Value?, stop: Value?, step: Value?, line: Int) throws -> Value {
        func bound(_ v: Value?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            guard let i = v.integer else {
                throw TemplateError(.runtime, line: line, "slice indices must be integers or None")
            }
            return i
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw TemplateError(.runtime, line: line, "slice step cannot be zero") }
        func indices(count: Int) throws -> [Int] {
            func clamp(_ i: Int?, _ defaultValue: Int) -> Int {
                guard var i else { return defaultValue }
                if i < 0 { i += count }
                return stride > 0 ? min(max(i, 0), count) : min(max(i, -1), count - 1)
            }
            let from = clamp(try bound(start), stride > 0 ? 0 : count - 1)
            let to = clamp(try bound(stop), stride > 0 ? count : -1)
            var out: [Int] = []
            var i = from
            while stride > 0 ? i < to : i > to {
                out.append(i)
                i += stride
            }
            return out
        }
        switch value {
        case .array(let items):
            return .array(try indices(count: items.count).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var view = String.UnicodeScalarView()
            for i in try indices(count: scalars.count) { view.append(scalars[i]) }
            return .string(String(view))
        default:
            throw TemplateError(.runtime, line: line, "'\(value.typeName)' object is not subscriptable")
        }
    }

    func call(_ callable: Callable, arguments: (positional: [Value], keyword: [(String, Value)]), line: Int) throws -> Value {
        switch callable {
        case .macro(let macro):
            return try callMacro(macro, arguments: arguments, line: line)
        case .builtin(let name):
            return try Builtins.call(name, CallArguments(arguments), line: line)
        case .method(let receiver, let name):
            return try Methods.call(name, on: receiver, CallArguments(arguments), interpreter: self)
        }
    }
}

/// Positional and keyword arguments of a filter, test, method or global function call.
struct CallArguments {
    let positional: [Value]
    let keyword: [(String, Value)]

    init(_ arguments: (positional: [Value], keyword: [(String, Value)])) {
        positional = arguments.positional
        keyword = arguments.keyword
    }

    init(positional: [Value]) {
        self.positional = positional
        keyword = []
    }

    /// The argument at `index`, or the keyword argument `name`, or nil.
    subscript(_ index: Int, _ name: String) -> Value? {
        if index < positional.count { return positional[index] }
        return keyword.first { $0.0 == name }?.1
    }
}
