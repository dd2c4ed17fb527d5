import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KilnEngine
import KilnModels
import KilnServer
import Logging
import Testing

/// The routes in-process (Hummingbird's test client, no sockets) over the real SmolLM2 checkpoint: shapes, every
/// validation rule, every error status, and the SSE framing.
@Suite(.serialized) struct RouteTests {
    static let modelPath = packageRoot() + "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// One engine for the whole suite; nil (and the suite skipped) when the model is missing outside CI.
    static let engine: Engine? = {
        guard FileManager.default.fileExists(atPath: modelPath) else { return nil }
        guard let model = try? LoadedModel.load(modelPath, threads: 2) else { return nil }
        return try? Engine(model: model, config: EngineConfig(maxBatchSize: 8, kvCacheBytes: 64 << 20))
    }()

    static func app(_ configure: (inout ServerConfig) -> Void = { _ in }) throws -> (some ApplicationProtocol)? {
        guard let engine else {
            #expect(ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] == nil, "missing \(modelPath)")
            return nil as Application<RouterResponder<BasicRequestContext>>?
        }
        var config = ServerConfig(modelID: "smollm2")
        config.maxTotalTokens = 512
        configure(&config)
        let state = ServerState(config: config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try state.attach(engine)
        return Application(router: makeRouter(state: state))
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ json: String, headers: HTTPFields = [:])
        async throws -> TestResponse
    {
        var h = headers
        h[.contentType] = "application/json"
        return try await client.execute(uri: uri, method: .post, headers: h, body: ByteBuffer(string: json))
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    static let greedy = #"{"inputs":"The capital of France is","parameters":{"max_new_tokens":8,"details":true}}"#

    @Test func generateShapeAndHeaders() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let response = try await Self.post(client, "/generate", Self.greedy)
            #expect(response.status == .ok)
            let body = try Self.object(response)
            let text = try #require(body["generated_text"] as? String)
            let details = try #require(body["details"] as? [String: Any])
            let tokens = try #require(details["tokens"] as? [[String: Any]])
            #expect(details["generated_tokens"] as? Int == tokens.count)
            #expect(["length", "eos_token", "stop_sequence"].contains(details["finish_reason"] as? String))
            #expect(details["seed"] is NSNull)
            #expect(details["prefill"] as? [Any] != nil)
            #expect(details["top_tokens"] == nil)
            #expect(tokens.compactMap { ($0["special"] as? Bool) == false ? $0["text"] as? String : nil }.joined() == text)
            for token in tokens {
                #expect(Set(token.keys) == ["id", "text", "logprob", "special"])
            }
            for name in [
                "x-compute-type", "x-compute-time", "x-total-time", "x-validation-time", "x-queue-time",
                "x-inference-time", "x-time-per-token", "x-prompt-tokens", "x-generated-tokens",
            ] {
                #expect(response.headers[HTTPField.Name(name)!] != nil, "missing \(name)")
            }
            #expect(response.headers[HTTPField.Name("x-generated-tokens")!] == String(tokens.count))
        }
    }

    @Test func detailsOmittedAndFullTextAndTopTokens() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let plain = try Self.object(
                try await Self.post(client, "/generate", #"{"inputs":"Hello","parameters":{"max_new_tokens":3}}"#))
            #expect(plain["details"] == nil)
            let full = try Self.object(
                try await Self.post(
                    client, "/generate",
                    #"{"inputs":"Hello","parameters":{"max_new_tokens":3,"return_full_text":true}}"#))
            #expect((full["generated_text"] as? String)?.hasPrefix("Hello") == true)
            let top = try Self.object(
                try await Self.post(
                    client, "/generate",
                    #"{"inputs":"Hello","parameters":{"max_new_tokens":3,"details":true,"top_n_tokens":2,"decoder_input_details":true}}"#
                ))
            let details = try #require(top["details"] as? [String: Any])
            let topTokens = try #require(details["top_tokens"] as? [[[String: Any]]])
            #expect(topTokens.count == 3 && topTokens.allSatisfy { $0.count == 2 })
            let prefill = try #require(details["prefill"] as? [[String: Any]])
            #expect(!prefill.isEmpty && prefill[0]["logprob"] is NSNull)
            // Every later prompt token has the model's log-probability: a probability, so at most 0.
            let scored = prefill.dropFirst().compactMap { $0["logprob"] as? Double }
            #expect(scored.count == prefill.count - 1 && scored.allSatisfy { $0 <= 0 && $0.isFinite })
        }
    }

    @Test func bestOfReturnsOtherSequences() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let r = try await Self.post(
                client, "/generate",
                #"{"inputs":"Hello","parameters":{"max_new_tokens":4,"best_of":2,"do_sample":true,"details":true}}"#)
            #expect(r.status == .ok)
            let details = try #require(try Self.object(r)["details"] as? [String: Any])
            #expect((details["best_of_sequences"] as? [Any])?.count == 1)
        }
    }

    @Test func streamFramingMatchesNonStreamed() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let plain = try Self.object(try await Self.post(client, "/generate", Self.greedy))
            let response = try await Self.post(client, "/generate_stream", Self.greedy)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let raw = String(buffer: response.body)
            #expect(raw.hasSuffix("\n\n"))
            let events = raw.split(separator: "\n\n").map(String.init)
            #expect(events.allSatisfy { $0.hasPrefix("data:") })
            let parsed = try events.map {
                try #require(JSONSerialization.jsonObject(with: Data($0.dropFirst(5).utf8)) as? [String: Any])
            }
            #expect(parsed.map { $0["index"] as? Int } == Array(1...parsed.count))
            #expect(parsed.dropLast().allSatisfy { $0["generated_text"] is NSNull && $0["details"] is NSNull })
            let last = try #require(parsed.last)
            #expect(last["generated_text"] as? String == plain["generated_text"] as? String)
            let details = try #require(last["details"] as? [String: Any])
            #expect(details["generated_tokens"] as? Int == parsed.count)
            #expect(Set(details.keys) == ["finish_reason", "generated_tokens", "seed", "input_length"])
            let streamed = parsed.compactMap { e -> String? in
                let t = e["token"] as? [String: Any]
                return (t?["special"] as? Bool) == false ? t?["text"] as? String : nil
            }
            #expect(streamed.joined() == plain["generated_text"] as? String)
        }
    }

    @Test func compatRouteStreamsOrAnswersAnArray() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let array = try await Self.post(client, "/", #"{"inputs":"Hi","parameters":{"max_new_tokens":2}}"#)
            let parsed = try JSONSerialization.jsonObject(with: Data(array.body.readableBytesView)) as? [[String: Any]]
            #expect(parsed?.count == 1 && parsed?[0]["generated_text"] is String)
            let stream = try await Self.post(
                client, "/", #"{"inputs":"Hi","stream":true,"parameters":{"max_new_tokens":2}}"#)
            #expect(stream.headers[.contentType] == "text/event-stream")
            #expect(String(buffer: stream.body).hasPrefix("data:{"))
        }
    }

    @Test func stopSequenceEndsGeneration() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let base = try Self.object(
                try await Self.post(client, "/generate", #"{"inputs":"1, 2, 3, 4,","parameters":{"max_new_tokens":12}}"#))
            let text = try #require(base["generated_text"] as? String)
            let word = String(text.trimmingCharacters(in: .whitespaces).prefix(2))
            let body = #"{"inputs":"1, 2, 3, 4,","parameters":{"max_new_tokens":12,"details":true,"stop":["\#(word)"]}}"#
            let stopped = try Self.object(try await Self.post(client, "/generate", body))
            let details = try #require(stopped["details"] as? [String: Any])
            #expect(details["finish_reason"] as? String == "stop_sequence")
            let streamed = String(buffer: try await Self.post(client, "/generate_stream", body).body)
            #expect(streamed.contains(#""finish_reason":"stop_sequence""#))
        }
    }

    /// Every validation rule: (body, expected message fragment).
    static let invalid: [(String, String)] = [
        (#"{"inputs":""}"#, "`inputs` cannot be empty"),
        (#"{"inputs":"a","parameters":{"max_new_tokens":0}}"#, "`max_new_tokens` must be strictly positive"),
        (#"{"inputs":"a","parameters":{"temperature":0}}"#, "`temperature` must be strictly positive"),
        (#"{"inputs":"a","parameters":{"repetition_penalty":0}}"#, "`repetition_penalty` must be strictly positive"),
        (#"{"inputs":"a","parameters":{"frequency_penalty":3}}"#, "`frequency_penalty` must be >= -2.0 and <= 2.0"),
        (#"{"inputs":"a","parameters":{"top_k":0}}"#, "`top_k` must be strictly positive"),
        (#"{"inputs":"a","parameters":{"top_p":1.0}}"#, "`top_p` must be > 0.0 and < 1.0"),
        (#"{"inputs":"a","parameters":{"typical_p":0}}"#, "`typical_p` must be > 0.0 and < 1.0"),
        (#"{"inputs":"a","parameters":{"stop":["a","b","c","d","e"]}}"#, "`stop` supports up to 4 stop sequences. Given: 5"),
        (#"{"inputs":"a","parameters":{"top_n_tokens":6}}"#, "`top_n_tokens` must be >= 0 and <= 5. Given: 6"),
        (#"{"inputs":"a","parameters":{"truncate":0}}"#, "`truncate` must be strictly positive and less than 511. Given: 0"),
        (#"{"inputs":"a","parameters":{"truncate":600}}"#, "`truncate` must be strictly positive and less than 511"),
        (#"{"inputs":"a","parameters":{"max_new_tokens":600}}"#, "`inputs` tokens + `max_new_tokens` must be <= 512. Given: 1 `inputs` tokens and 600 `max_new_tokens`"),
        (#"{"inputs":"a","parameters":{"best_of":2}}"#, "you must use sampling when `best_of` is > 1"),
        (#"{"inputs":"a","parameters":{"best_of":2,"do_sample":true,"seed":1}}"#, "`seed` must not be set when `best_of` > 1"),
        (#"{"inputs":"a","parameters":{"best_of":3,"do_sample":true}}"#, "`best_of` must be > 0 and <= 2. Given: 3"),
        (#"{"inputs":"a","parameters":{"grammar":{"type":"json","value":{"not":{}}}}}"#, "grammar is not valid: not supported: JSON Schema keyword 'not'"),
        (#"{"inputs":"a","parameters":{"grammar":{"type":"regex","value":"(a"}}}"#, "grammar is not valid: invalid regex"),
        (#"{"inputs":"a","parameters":{"grammar":{"type":"xml","value":"a"}}}"#, "grammar is not valid: type must be"),
        (#"{"inputs":"a","parameters":{"watermark":true}}"#, "`watermark` is not supported"),
        (#"{"inputs":"a","parameters":{"adapter_id":"x"}}"#, "`adapter_id` is not supported"),
    ]

    @Test func validationErrorsAre422WithTGIMessages() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            for (body, message) in Self.invalid {
                let r = try await Self.post(client, "/generate", body)
                #expect(r.status == .unprocessableContent, "\(body)")
                let error = try Self.object(r)
                #expect(error["error_type"] as? String == "validation")
                #expect((error["error"] as? String)?.contains(message) == true, "\(body): \(error)")
            }
            let long = String(repeating: "word ", count: 600)
            let r = try await Self.post(client, "/generate", #"{"inputs":"\#(long)"}"#)
            #expect((try Self.object(r)["error"] as? String)?.contains("`inputs` must have less than 511 tokens") == true)
        }
    }

    /// The `grammar` parameter constrains the text, and generation ends by itself when the match is complete.
    @Test func grammarConstrainsTheOutput() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            for (grammar, pattern) in [
                (#"{"type":"regex","value":"[0-9]{2,4}( apples)?"}"#, "[0-9]{2,4}( apples)?"),
                (#"{"type":"json","value":{"type":"object","properties":{"n":{"type":"integer","minimum":3,"maximum":7}},"required":["n"]}}"#,
                 #"\{"n":[3-7]\}"#),
            ] {
                let body = #"{"inputs":"I counted","parameters":{"max_new_tokens":30,"details":true,"grammar":\#(grammar)}}"#
                let r = try Self.object(try await Self.post(client, "/generate", body))
                let text = try #require(r["generated_text"] as? String, "\(r)")
                #expect(text.wholeMatch(of: try Regex(pattern)) != nil, "\(text)")
                #expect((r["details"] as? [String: Any])?["finish_reason"] as? String == "eos_token", "\(r)")
            }
        }
    }

    @Test func streamOnlyRules() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            for (body, message) in [
                (#"{"inputs":"a","parameters":{"best_of":2,"do_sample":true}}"#, "`best_of` != 1 is not supported when streaming tokens"),
                (#"{"inputs":"a","parameters":{"decoder_input_details":true}}"#, "`decoder_input_details` == true is not supported when streaming tokens"),
                (#"{"inputs":"a","parameters":{"top_k":-1}}"#, "`top_k` must be strictly positive"),
            ] {
                // TGI's behaviour: a 200 stream whose only event is the error.
                let r = try await Self.post(client, "/generate_stream", body)
                #expect(r.status == .ok)
                let raw = String(buffer: r.body)
                #expect(raw.hasPrefix("data:{") && raw.hasSuffix("}\n\n"))
                let event = try #require(JSONSerialization.jsonObject(with: Data(raw.dropFirst(5).utf8)) as? [String: Any])
                #expect(event["error_type"] as? String == "validation")
                #expect((event["error"] as? String)?.contains(message) == true, "\(raw)")
            }
        }
    }

    @Test func bestOfDisallowedWhenMaxIsOne() async throws {
        guard let app = try Self.app({ $0.maxBestOf = 1 }) else { return }
        try await app.test(.router) { client in
            let r = try await Self.post(client, "/generate", #"{"inputs":"a","parameters":{"best_of":2,"do_sample":true}}"#)
            #expect((try Self.object(r)["error"] as? String)?.contains("`best_of` != 1 is not allowed for this endpoint") == true)
        }
    }

    @Test func malformedBodiesAre4xx() async throws {
        guard let app = try Self.app({ $0.payloadLimit = 1000 }) else { return }
        try await app.test(.router) { client in
            let cases: [(String, HTTPResponse.Status)] = [
                ("{not json", .badRequest), (#"{"inputs":5}"#, .unprocessableContent),
                (#"{"parameters":{}}"#, .unprocessableContent),
                (#"{"inputs":"a","parameters":{"max_new_tokens":1e30}}"#, .unprocessableContent),
                (#"{"inputs":"a","parameters":{"max_new_tokens":-1}}"#, .unprocessableContent),
                (#"{"inputs":"a","parameters":{"seed":-1}}"#, .unprocessableContent),
                (String(repeating: "[", count: 900), .badRequest),
            ]
            for (body, status) in cases {
                let r = try await Self.post(client, "/generate", body)
                #expect(r.status == status, "\(body.prefix(60))")
                #expect(try Self.object(r)["error_type"] as? String == "validation")
            }
            let big = #"{"inputs":""# + String(repeating: "x", count: 2000) + #""}"#
            let r = try await Self.post(client, "/generate", big)
            #expect(r.status == .contentTooLarge)
            #expect(try Self.object(r)["error_type"] as? String == "payload_too_large")
            let bytes = ByteBuffer(bytes: Array(#"{"inputs":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8))
            let bad = try await client.execute(uri: "/generate", method: .post, body: bytes)
            #expect(bad.status == .badRequest)
        }
    }

    @Test func overloadedIs429() async throws {
        guard let app = try Self.app({ $0.maxConcurrentRequests = 0 }) else { return }
        try await app.test(.router) { client in
            let r = try await Self.post(client, "/generate", Self.greedy)
            #expect(r.status == .tooManyRequests)
            #expect(try Self.object(r)["error"] as? String == "Model is overloaded")
            let s = try await Self.post(client, "/generate_stream", Self.greedy)
            #expect(s.status == .ok && String(buffer: s.body).contains(#""error_type":"overloaded""#))
        }
    }

    @Test func apiKeyGuardsGenerationRoutesOnly() async throws {
        guard let app = try Self.app({ $0.apiKey = "Secret" }) else { return }
        try await app.test(.router) { client in
            for uri in ["/generate", "/generate_stream", "/", "/tokenize"] {
                #expect(try await Self.post(client, uri, Self.greedy).status == .unauthorized)
            }
            let wrong = try await Self.post(client, "/generate", Self.greedy, headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            let right = try await Self.post(client, "/generate", Self.greedy, headers: [.authorization: "Bearer secret"])
            #expect(right.status == .ok)
            for uri in ["/health", "/info", "/metrics", "/ping"] {
                #expect(try await client.execute(uri: uri, method: .get).status == .ok)
            }
        }
    }

    @Test func healthInfoPingTokenize() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            for uri in ["/health", "/ping", "/"] {
                #expect(try await client.execute(uri: uri, method: .get).status == .ok)
            }
            let info = try Self.object(try await client.execute(uri: "/info", method: .get))
            #expect(info["model_id"] as? String == "smollm2")
            #expect(info["max_total_tokens"] as? Int == 512 && info["max_input_tokens"] as? Int == 511)
            #expect(info["router"] as? String == "text-generation-router")
            #expect(info["model_sha"] is NSNull && info["docker_label"] is NSNull)
            let r = try await Self.post(client, "/tokenize", #"{"inputs":"Hello world"}"#)
            let entries = try #require(JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [[String: Any]])
            #expect(entries.count == 2)
            #expect(entries.map { $0["text"] as? String ?? "" }.joined() == "Hello world")
            #expect(entries.last?["stop"] as? Int == 11 && entries.first?["start"] as? Int == 0)
        }
    }

    @Test func healthIs503UntilTheModelIsReady() async throws {
        let state = ServerState(config: ServerConfig(modelID: "x"), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let app = Application(router: makeRouter(state: state))
        try await app.test(.router) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .serviceUnavailable)
            #expect(try Self.object(health)["error_type"] as? String == "healthcheck")
            let generate = try await Self.post(client, "/generate", Self.greedy)
            #expect(generate.status == .serviceUnavailable)
            state.fail("boom")
            #expect(try await client.execute(uri: "/health", method: .get).status == .serviceUnavailable)
        }
    }

    @Test func metricsExposition() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            _ = try await Self.post(client, "/generate", Self.greedy)
            _ = try await Self.post(client, "/generate", #"{"inputs":""}"#)
            let r = try await client.execute(uri: "/metrics", method: .get)
            #expect(r.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: r.body)
            for family in [
                "tgi_request_count counter", "tgi_request_success counter", "tgi_request_failure counter",
                "tgi_request_duration histogram", "tgi_request_queue_duration histogram",
                "tgi_request_inference_duration histogram", "tgi_request_mean_time_per_token_duration histogram",
                "tgi_request_input_length histogram", "tgi_request_generated_tokens histogram",
                "kiln_request_time_to_first_token_duration histogram", "tgi_queue_size gauge",
                "tgi_batch_current_size gauge", "tgi_batch_current_max_tokens gauge", "kiln_kv_blocks_in_use gauge",
                "kiln_kv_blocks_total gauge",
            ] {
                #expect(text.contains("# TYPE \(family)\n"), "missing \(family)")
            }
            #expect(text.contains("tgi_request_count 2\n") && text.contains("tgi_request_success 1\n"))
            #expect(text.contains("tgi_request_failure{err=\"validation\"} 1\n"))
            #expect(text.contains("tgi_request_duration_bucket{le=\"+Inf\"} 1\n"))
            #expect(text.contains("tgi_request_duration_count 1\n"))
            // Every sample line is `name{labels} value` with a numeric value.
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 2 && Double(parts[1]) != nil, "\(line)")
            }
        }
    }
}

func packageRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}
