/// The parsed form of a template: statements (`Node`) holding expressions (`Expression`).
/// Every node that can fail at render time carries its source line for the error message.
indirect enum Node: Sendable {
    case text(String)
    case output(Expression)
    case ifChain(branches: [(condition: Expression, body: [Node])], otherwise: [Node])
    case forLoop(ForLoop)
    /// `{% set a = … %}` or `{% set a, b = … %}`.
    case set(names: [String], value: Expression, line: Int)
    /// `{% set ns.attr = … %}`.
    case setAttribute(object: String, attribute: String, value: Expression, line: Int)
    /// `{% set name %}…{% endset %}`, optionally through filters.
    case setBlock(name: String, body: [Node], filters: [FilterCall])
    case macro(Macro)
    /// `{% call(params) macro(args) %}body{% endcall %}`.
    case callBlock(call: Expression, caller: Macro, line: Int)
    /// `{% filter name %}…{% endfilter %}`.
    case filterBlock(body: [Node], filters: [FilterCall])
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

struct ForLoop: Sendable {
    let targets: [String]
    let iterable: Expression
    let condition: Expression?
    let body: [Node]
    let otherwise: [Node]
    let line: Int
}

struct FilterCall: Sendable {
    let name: String
    let arguments: Arguments
    let line: Int
}

struct Arguments: Sendable {
    var positional: [Expression] = []
    var keyword: [(name: String, value: Expression)] = []
}

indirect enum Expression: Sendable {
    case literal(Value)
    case name(String, line: Int)
    case list([Expression])
    case tuple([Expression])
    case dict([(key: Expression, value: Expression)])
    case attribute(Expression, String, line: Int)
    case `subscript`(Expression, Expression, line: Int)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?, line: Int)
    case call(Expression, Arguments, line: Int)
    case filter(Expression, FilterCall)
    case test(Expression, name: String, arguments: Arguments, negated: Bool, line: Int)
    case not(Expression)
    case negate(Expression, line: Int)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case binary(String, Expression, Expression, line: Int)
    /// `a < b <= c`: each comparison must hold, as in Python.
    case compare(Expression, [(op: String, operand: Expression)], line: Int)
    case conditional(then: Expression, condition: Expression, otherwise: Expression?)
}
