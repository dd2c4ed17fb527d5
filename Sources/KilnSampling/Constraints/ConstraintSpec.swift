import KilnTokenizers
import Synchronization

/// What a request asks its output to match. The one entry point servers and tools use:
/// `ConstraintCompiler.compile(_:)` turns a spec into a `CompiledConstraint`, or throws a `ConstraintError` whose
/// description names the unsupported keyword or exceeded limit (a 422 for a server).
public enum ConstraintSpec: Sendable, Hashable {
    /// A regular expression the whole output must match (`RegexParser` documents the subset).
    case regex(String)
    /// A JSON Schema, as JSON text (`JSONSchemaCompiler` documents the keywords).
    case jsonSchema(String)
    /// Any JSON value.
    case anyJSON
    /// Any JSON object (OpenAI's `response_format: {"type": "json_object"}`).
    case jsonObject
    /// Exactly one of these strings.
    case choice([String])
    /// A GBNF grammar (llama.cpp's notation; `GBNFParser` documents it).
    case grammar(String)
}

public enum ConstraintError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidRegex(String)
    case invalidSchema(String)
    case invalidGrammar(String)
    /// A feature Kiln does not support, named.
    case unsupported(String)
    /// A limit of `ConstraintLimits` exceeded, named.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .invalidRegex(let m): "invalid regex: \(m)"
        case .invalidSchema(let m): "invalid JSON schema: \(m)"
        case .invalidGrammar(let m): "invalid grammar: \(m)"
        case .unsupported(let m): "not supported: \(m)"
        case .tooLarge(let m): "constraint too large: \(m)"
        }
    }
}

/// Compiles constraint specs for one vocabulary and keeps the most recent ones by content, so requests repeating
/// a schema share its compiled automaton and every allowed-token set computed for it.
public final class ConstraintCompiler: Sendable {
    public let vocabulary: TokenVocabulary
    public let limits: ConstraintLimits
    private let capacity: Int
    private let cache = Mutex<[(spec: ConstraintSpec, compiled: CompiledConstraint)]>([])  // most recent last

    public init(vocabulary: TokenVocabulary, limits: ConstraintLimits = ConstraintLimits(), capacity: Int = 32) {
        self.vocabulary = vocabulary
        self.limits = limits
        self.capacity = capacity
    }

    public func compile(_ spec: ConstraintSpec) throws(ConstraintError) -> CompiledConstraint {
        let hit = cache.withLock { entries -> CompiledConstraint? in
            guard let i = entries.firstIndex(where: { $0.spec == spec }) else { return nil }
            let entry = entries.remove(at: i)
            entries.append(entry)
            return entry.compiled
        }
        if let hit { return hit }
        let compiled = try CompiledConstraint(
            grammar: try Self.grammar(for: spec, limits: limits).lower(limits: limits), vocabulary: vocabulary,
            limits: limits)
        cache.withLock { entries in
            entries.append((spec, compiled))
            if entries.count > capacity { entries.removeFirst() }
        }
        return compiled
    }

    static func grammar(for spec: ConstraintSpec, limits: ConstraintLimits) throws(ConstraintError) -> GrammarBuilder {
        switch spec {
        case .regex(let pattern):
            var builder = GrammarBuilder()
            _ = builder.add("root", try RegexParser.parse(pattern))
            return builder
        case .jsonSchema(let text):
            let schema: JSONValue
            do {
                schema = try JSONValue.parse(Array(text.utf8))
            } catch {
                throw .invalidSchema("not valid JSON (\(error))")
            }
            return try JSONSchemaCompiler.compile(schema, limits: limits)
        case .anyJSON: return try JSONSchemaCompiler.compile(.bool(true), limits: limits)
        case .jsonObject: return try JSONSchemaCompiler.compile(.object([("type", .string("object"))]), limits: limits)
        case .choice(let options):
            guard !options.isEmpty else { throw .invalidGrammar("the choice list is empty") }
            var builder = GrammarBuilder()
            _ = builder.add("root", .choice(options.map { .literal($0) }))
            return builder
        case .grammar(let text): return try GBNFParser.parse(text)
        }
    }
}
