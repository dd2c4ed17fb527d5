import AsyncHTTPClient
import Foundation
import NIOCore

/// The HTTP API a benchmark speaks.
public enum Backend: String, Sendable, Codable, CaseIterable {
    /// TGI: `POST /generate_stream`, one `data:{json}` event per token, the last one with `details`.
    case tgi
    /// OpenAI: `POST /v1/completions` with `"stream": true`, `data: {chunk}` events ending in `data: [DONE]`.
    case openai
}

/// One prompt of a benchmark run.
public struct BenchPrompt: Sendable, Codable, Equatable {
    public var text: String
    /// Prompt tokens as counted when the dataset was made (the server's tokenizer when it had one to ask).
    public var tokens: Int
    public var outputTokens: Int

    public init(text: String, tokens: Int, outputTokens: Int) {
        self.text = text
        self.tokens = tokens
        self.outputTokens = outputTokens
    }
}

/// Splits a byte stream into server-sent events and returns each event's `data` payload.
public struct SSEParser: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// The data payloads of every event completed by `bytes` (an event ends at a blank line; `\r\n` is accepted).
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        pending.append(contentsOf: bytes)
        var payloads: [String] = []
        var start = 0
        var i = 0
        while i < pending.count {
            // An event ends at "\n\n" or "\r\n\r\n".
            if pending[i] == UInt8(ascii: "\n") {
                var j = i + 1
                if j < pending.count, pending[j] == UInt8(ascii: "\r") { j += 1 }
                if j < pending.count, pending[j] == UInt8(ascii: "\n") {
                    if let payload = Self.data(of: pending[start..<i]) { payloads.append(payload) }
                    start = j + 1
                    i = j + 1
                    continue
                }
            }
            i += 1
        }
        pending.removeFirst(start)
        return payloads
    }

    /// What is left at the end of the stream, when the last event had no blank line after it.
    public mutating func finish() -> [String] {
        defer { pending = [] }
        return Self.data(of: pending[...]).map { [$0] } ?? []
    }

    private static func data(of event: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: event, as: UTF8.self)
        var lines: [String] = []
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            guard l.hasPrefix("data:") else { continue }
            var value = l.dropFirst(5)
            if value.first == " " { value = value.dropFirst() }
            lines.append(String(value))
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}

/// Sends one streaming request and times every chunk.
public struct StreamingClient: Sendable {
    public let http: HTTPClient
    public let baseURL: String
    public let backend: Backend
    /// OpenAI's `model` field; nil leaves it out (single-model servers take any).
    public let model: String?
    public let timeout: TimeAmount

    public init(http: HTTPClient, baseURL: String, backend: Backend, model: String? = nil, timeout: TimeAmount = .seconds(900)) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.backend = backend
        self.model = model
        self.timeout = timeout
    }

    /// A client with a connection pool large enough for any concurrency (AsyncHTTPClient keeps 8 by default).
    public static func makeHTTPClient(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, connections)
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func body(_ prompt: BenchPrompt) -> [String: Any] {
        switch backend {
        case .tgi:
            // Greedy, so that both servers do the same work per token.
            return [
                "inputs": prompt.text,
                "parameters": ["max_new_tokens": prompt.outputTokens, "do_sample": false, "details": true],
            ]
        case .openai:
            var body: [String: Any] = [
                "prompt": prompt.text, "max_tokens": prompt.outputTokens, "temperature": 0, "stream": true,
            ]
            if let model { body["model"] = model }
            return body
        }
    }

    var path: String { backend == .tgi ? "/generate_stream" : "/v1/completions" }

    /// Sends `prompt` and follows its stream to the end. `origin` is the benchmark's start, for `sentAt`.
    public func send(_ prompt: BenchPrompt, origin: ContinuousClock.Instant) async -> RequestOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        func since(_ t: ContinuousClock.Instant) -> Double {
            let d = clock.now - t
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        let sentAt = Self.seconds(start - origin)
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        do {
            let data = try JSONSerialization.data(withJSONObject: body(prompt))
            request.body = .bytes(ByteBuffer(bytes: data))
            let response = try await http.execute(request, timeout: timeout)
            guard response.status == .ok else {
                var text = ""
                for try await buffer in response.body { text += String(buffer: buffer) }
                return .failed("HTTP \(response.status.code): \(text.prefix(200))", sentAt: sentAt, latency: since(start))
            }
            var parser = SSEParser()
            var reading = StreamReading(backend: backend)
            for try await buffer in response.body {
                let now = since(start)
                for payload in parser.feed(buffer.readableBytesView) { try reading.accept(payload, at: now) }
            }
            for payload in parser.finish() { try reading.accept(payload, at: since(start)) }
            return reading.outcome(latency: since(start), sentAt: sentAt, promptTokens: prompt.tokens)
        } catch {
            return .failed("\(error)", sentAt: sentAt, latency: since(start))
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Prompt tokens of `text` as the server counts them: TGI's and Kiln's `POST /tokenize`, or llama-cpp-python's
    /// `POST /extras/tokenize`. nil when the server has neither.
    public func countTokens(_ text: String) async -> Int? {
        let attempts: [(String, [String: Any])] =
            backend == .tgi
            ? [("/tokenize", ["inputs": text])]
            : [("/extras/tokenize", ["input": text]), ("/tokenize", ["prompt": text])]
        for (path, body) in attempts {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            guard let data = try? JSONSerialization.data(withJSONObject: body) else { continue }
            request.body = .bytes(ByteBuffer(bytes: data))
            guard let response = try? await http.execute(request, timeout: .seconds(30)), response.status == .ok,
                let buffer = try? await response.body.collect(upTo: 16 << 20),
                let json = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
            else { continue }
            if let entries = json as? [Any] { return entries.count }
            if let object = json as? [String: Any] {
                if let tokens = object["tokens"] as? [Any] { return tokens.count }
                if let count = object["count"] as? Int { return count }
            }
        }
        return nil
    }
}

/// Reads one response stream's events: which carry a token, when they came, and the server's token counts.
struct StreamReading {
    let backend: Backend
    var times: [Double] = []
    var reportedOutput: Int?
    var reportedPrompt: Int?
    var done = false

    init(backend: Backend) { self.backend = backend }

    struct StreamError: Error, CustomStringConvertible {
        let description: String
    }

    mutating func accept(_ payload: String, at time: Double) throws {
        let trimmed = payload.trimmingCharacters(in: .whitespaces)
        if trimmed == "[DONE]" {
            done = true
            return
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
            throw StreamError(description: "not JSON: \(trimmed.prefix(100))")
        }
        if let error = json["error"] {
            let message = (error as? [String: Any])?["message"] ?? error
            throw StreamError(description: "stream error: \(message)")
        }
        switch backend {
        case .tgi:
            guard json["token"] != nil else { return }
            times.append(time)
            if let details = json["details"] as? [String: Any] {
                reportedOutput = details["generated_tokens"] as? Int
                reportedPrompt = details["input_length"] as? Int
                done = true
            }
        case .openai:
            if let usage = json["usage"] as? [String: Any] {
                reportedOutput = usage["completion_tokens"] as? Int
                reportedPrompt = usage["prompt_tokens"] as? Int
            }
            guard let choices = json["choices"] as? [[String: Any]], let choice = choices.first else { return }
            let text = choice["text"] as? String ?? ""
            let finished = !(choice["finish_reason"] is NSNull) && choice["finish_reason"] != nil
            // A closing chunk with no text only says why the sequence ended.
            if !text.isEmpty || !finished { times.append(time) }
        }
    }

    func outcome(latency: Double, sentAt: Double, promptTokens: Int) -> RequestOutcome {
        guard let first = times.first else {
            return .failed("the stream carried no token", sentAt: sentAt, latency: latency)
        }
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        return RequestOutcome(
            success: true, promptTokens: reportedPrompt ?? promptTokens, outputTokens: reportedOutput ?? times.count,
            ttft: first, itl: gaps, latency: latency, sentAt: sentAt)
    }
}
