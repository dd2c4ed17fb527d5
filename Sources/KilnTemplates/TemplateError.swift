/// Everything that can go wrong while loading or rendering a template, with the template line it happened on.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The template text does not parse.
        case syntax
        /// Evaluation failed: a type error, an undefined value used, an unknown method.
        case runtime
        /// The template itself called `raise_exception(message)`.
        case raised
        /// The messages, tools or other inputs are not usable (bad JSON, wrong shape).
        case invalidInput
    }

    public let kind: Kind
    /// 1-based line in the template source; nil when the error is not tied to a line.
    public let line: Int?
    public let message: String

    public init(_ kind: Kind, line: Int?, _ message: String) {
        self.kind = kind
        self.line = line
        self.message = message
    }

    /// The same error, pinned to `line` unless it already names one.
    func at(_ line: Int) -> TemplateError {
        self.line == nil ? TemplateError(kind, line: line, message) : self
    }

    public var description: String {
        let what =
            switch kind {
            case .syntax: "template syntax error"
            case .runtime: "template error"
            case .raised: "template raised an exception"
            case .invalidInput: "invalid template input"
            }
        if let line { return "\(what) at line \(line): \(message)" }
        return "\(what): \(message)"
    }
}
