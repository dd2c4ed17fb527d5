import Foundation
import KilnTemplates

/// Tool calls in generated text, in the form Qwen2.5's template (and other Hermes-style templates) asks for:
/// `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`.
///
/// Text is fed as it is generated; what comes out is the same whether the text arrives in one piece or token by
/// token, so a streamed reply carries exactly the content and calls of the non-streamed one. Text that could be
/// the start of `<tool_call>` is held back until it is known not to be; whitespace is held until non-whitespace
/// follows it, and dropped before a call and after the last one. A block that is not valid JSON with a `name`, or
/// that never closes, is ordinary text.
///
/// Small checkpoints (Qwen2.5-Coder 0.5B among them) often write the call's JSON bare, without the tags. So a JSON
/// object that opens the reply (or follows another call, with only whitespace between) and names one of
/// `bareNames` (the offered tools) is a call too; while such an object is still open it is held back.
public struct ToolCallParser: Sendable {
    public enum Piece: Sendable, Equatable {
        case text(String)
        case call(name: String, arguments: String)
    }

    static let open = "<tool_call>"
    static let close = "</tool_call>"

    private var buffer = ""
    private var inCall = false
    private var whitespace = ""
    /// Nothing but whitespace since the start or the last call: where a bare call may begin.
    private var atBoundary = true
    private let bareNames: Set<String>
    public private(set) var calls = 0

    public init(bareNames: Set<String> = []) { self.bareNames = bareNames }

    public mutating func feed(_ text: String) -> [Piece] {
        buffer += text
        var out: [Piece] = []
        while true {
            if inCall {
                guard let end = buffer.range(of: Self.close) else { return out }
                let body = String(buffer[..<end.lowerBound])
                buffer = String(buffer[end.upperBound...])
                inCall = false
                if let call = Self.call(body) {
                    whitespace = ""
                    calls += 1
                    atBoundary = true
                    out.append(call)
                } else {
                    emit(Self.open + body + Self.close, into: &out)
                }
            } else if atBoundary, !bareNames.isEmpty,
                let brace = buffer.firstIndex(where: { !$0.isWhitespace }), buffer[brace] == "{"
            {
                emit(String(buffer[..<brace]), into: &out)
                guard let end = Self.objectEnd(buffer[brace...]) else { return out }
                let body = String(buffer[brace..<end])
                buffer = String(buffer[end...])
                if case .call(let name, _)? = Self.call(body), bareNames.contains(name) {
                    whitespace = ""
                    calls += 1
                    atBoundary = true
                    out.append(Self.call(body)!)
                } else {
                    emit(body, into: &out)
                }
            } else if let start = buffer.range(of: Self.open) {
                emit(String(buffer[..<start.lowerBound]), into: &out)
                buffer = String(buffer[start.upperBound...])
                inCall = true
            } else {
                let keep = Self.partialOpen(buffer)
                emit(String(buffer.dropLast(keep)), into: &out)
                buffer = String(buffer.suffix(keep))
                return out
            }
        }
    }

    /// The end of the text: what is still held comes out as text (trailing whitespace only when no call came).
    public mutating func finish() -> [Piece] {
        var out: [Piece] = []
        let rest = (inCall ? Self.open : "") + buffer
        buffer = ""
        inCall = false
        emit(rest, into: &out)
        if calls == 0 && !whitespace.isEmpty { out.append(.text(whitespace)) }
        whitespace = ""
        return out
    }

    private mutating func emit(_ text: String, into out: inout [Piece]) {
        guard !text.isEmpty else { return }
        // Trailing whitespace waits: it is dropped if a call follows.
        guard let last = text.lastIndex(where: { !$0.isWhitespace }) else {
            whitespace += text
            return
        }
        let end = text.index(after: last)
        out.append(.text(whitespace + text[..<end]))
        whitespace = String(text[end...])
        atBoundary = false
    }

    /// The end of the JSON object that `text` starts with, or nil while it is still open.
    static func objectEnd(_ text: Substring) -> String.Index? {
        var depth = 0
        var inString = false
        var escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            index = text.index(after: index)
            if inString {
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                }
                continue
            }
            switch c {
            case "\"": inString = true
            case "{", "[": depth += 1
            case "}", "]":
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        return nil
    }

    /// How many characters at the end of `text` could begin `<tool_call>`.
    static func partialOpen(_ text: String) -> Int {
        let tail = Array(text.suffix(open.count - 1))
        let pattern = Array(open)
        for length in stride(from: tail.count, to: 0, by: -1) where Array(tail.suffix(length)) == Array(pattern.prefix(length)) {
            return length
        }
        return 0
    }

    /// `{"name": …, "arguments": …}` (or `parameters`); arguments become JSON text, as OpenAI sends them.
    static func call(_ body: String) -> Piece? {
        guard case .object(let object)? = try? Value(json: Data(body.utf8)),
            let name = object["name"]?.stringValue, !name.isEmpty
        else { return nil }
        let arguments = object["arguments"] ?? object["parameters"] ?? [:]
        if case .string(let text) = arguments { return .call(name: name, arguments: text) }
        return .call(name: name, arguments: OpenAIJSON.text(arguments))
    }
}
