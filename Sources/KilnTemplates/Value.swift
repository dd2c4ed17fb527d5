import Foundation

/// A value a template computes with: the JSON types plus what Jinja2 adds (undefined, callables, namespaces).
///
/// Semantics follow Python as Jinja2 sees it: `bool` counts as a number in arithmetic and comparisons, dictionaries
/// keep insertion order, strings are sequences of Unicode code points.
public enum Value: Sendable {
    /// A name or attribute that does not exist. Prints as "", is falsy, iterates as empty; using it further fails.
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case object(OrderedObject)
    /// The mutable object `namespace()` makes, the only thing `{% set ns.attr = … %}` may change.
    case namespace(Namespace)
    case callable(Callable)
}

/// A string-keyed dictionary that remembers insertion order, as Python's `dict` does.
public struct OrderedObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    public init() {}

    public init(_ pairs: [(String, Value)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    public var pairs: [(key: String, value: Value)] { keys.map { ($0, storage[$0] ?? Value.none) } }
    public var values: [Value] { keys.map { storage[$0] ?? Value.none } }

    public static func == (a: OrderedObject, b: OrderedObject) -> Bool {
        guard a.count == b.count else { return false }
        for (key, value) in a.storage {
            guard let other = b.storage[key], value.pythonEquals(other) else { return false }
        }
        return true
    }
}

/// The object `namespace(...)` returns. It is a reference so that assignments inside loops are seen outside them;
/// one render owns it and it never leaves that render's thread.
public final class Namespace: @unchecked Sendable {
    var attributes: OrderedObject

    init(_ attributes: OrderedObject) { self.attributes = attributes }
}

/// Something a template can call: a global function, a method bound to its receiver, or a macro.
public indirect enum Callable: Sendable {
    case builtin(String)
    case method(Value, String)
    case macro(Macro)
}

/// A `{% macro %}` (or the body of a `{% call %}` block, which is what `caller()` invokes).
public final class Macro: Sendable {
    let name: String
    let parameters: [(name: String, defaultValue: Expression?)]
    let body: [Node]
    /// The `caller` a `{% call %}` block hands in; nil for plain macros.
    let caller: Macro?
    /// For a call block's body: the scopes at the call site, which the body sees when `caller()` runs it.
    let capturedScopes: [[String: Value]]?

    init(
        name: String, parameters: [(name: String, defaultValue: Expression?)], body: [Node], caller: Macro? = nil,
        capturedScopes: [[String: Value]]? = nil
    ) {
        self.name = name
        self.parameters = parameters
        self.body = body
        self.caller = caller
        self.capturedScopes = capturedScopes
    }

    func with(caller: Macro) -> Macro { Macro(name: name, parameters: parameters, body: body, caller: caller) }

    func capturing(_ scopes: [[String: Value]]) -> Macro {
        Macro(name: name, parameters: parameters, body: body, caller: caller, capturedScopes: scopes)
    }
}

extension Value: Equatable {
    public static func == (a: Value, b: Value) -> Bool { a.pythonEquals(b) }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(OrderedObject(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

extension Value {
    /// Parses JSON, keeping object key order as written (the order Python's `json.loads` gives templates).
    public init(json data: Data) throws {
        var reader = JSONReader(bytes: [UInt8](data))
        self = try reader.readDocument()
    }

    public var isUndefined: Bool { if case .undefined = self { true } else { false } }
    public var isNone: Bool { if case .none = self { true } else { false } }
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var arrayValue: [Value]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: OrderedObject? { if case .object(let o) = self { o } else { nil } }
}
