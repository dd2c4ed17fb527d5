import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KilnEngine
import KilnServer
import KilnTemplates
import Logging
import Testing

/// The OpenAI routes in-process over SmolLM2 (the engine `RouteTests` loads): shapes with their explicit nulls,
/// SSE framing, validation statuses and OpenAI's error body. The oracle for content is TGI's /generate given the
/// prompt SmolLM2's chat template produces, written out by hand from the template.
@Suite(.serialized) struct OpenAIRouteTests {
    static func app(_ configure: (inout ServerConfig) -> Void = { _ in }) throws -> (some ApplicationProtocol)? {
        guard let engine = RouteTests.engine else {
            #expect(ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] == nil, "missing \(RouteTests.modelPath)")
            return nil as Application<RouterResponder<BasicRequestContext>>?
        }
        var config = ServerConfig(modelID: RouteTests.modelPath)
        config.servedModelName = "smollm2"
        config.maxTotalTokens = 512
        configure(&config)
        let state = ServerState(config: config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try state.attach(engine, chatTemplate: try TemplateSource.load(RouteTests.modelPath).compile())
        return Application(router: makeRouter(state: state))
    }

    static let chat = #"{"model":"x","messages":[{"role":"user","content":"Name three colours."}],"temperature":0,"max_tokens":12"#

    /// SmolLM2's template with its default system message, as transformers renders it.
    static let chatPrompt =
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        + "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"

    static func events(_ response: TestResponse) throws -> (chunks: [[String: Any]], done: Bool) {
        let raw = String(buffer: response.body)
        #expect(raw.hasSuffix("\n\n"))
        var chunks: [[String: Any]] = []
        var done = false
        for event in raw.split(separator: "\n\n").map(String.init) {
            #expect(event.hasPrefix("data: "), "\(event)")
            #expect(!done, "an event after [DONE]")
            let payload = event.dropFirst(6)
            if payload == "[DONE]" {
                done = true
                continue
            }
            chunks.append(try #require(JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]))
        }
        return (chunks, done)
    }

    static func error(_ response: TestResponse) throws -> [String: Any] {
        let body = try RouteTests.object(response)
        #expect(Set(body.keys) == ["error"])
        let error = try #require(body["error"] as? [String: Any])
        #expect(Set(error.keys) == ["message", "type", "param", "code"])
        #expect(error["message"] is String && error["type"] is String)
        return error
    }

    @Test func chatShapeAndContentMatchTheTemplatedPrompt() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let r = try await RouteTests.post(client, "/v1/chat/completions", Self.chat + "}")
            #expect(r.status == .ok)
            let body = try RouteTests.object(r)
            #expect(Set(body.keys) == ["id", "object", "created", "model", "system_fingerprint", "choices", "usage"])
            #expect(body["object"] as? String == "chat.completion")
            #expect(body["model"] as? String == "smollm2")
            #expect((body["id"] as? String)?.hasPrefix("chatcmpl-") == true)
            let choices = try #require(body["choices"] as? [[String: Any]])
            #expect(choices.count == 1)
            let choice = choices[0]
            #expect(Set(choice.keys) == ["index", "message", "logprobs", "finish_reason"])
            #expect(choice["index"] as? Int == 0 && choice["logprobs"] is NSNull)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant" && message["refusal"] is NSNull)
            #expect(message["tool_calls"] == nil)

            let tgi = try RouteTests.object(
                try await RouteTests.post(
                    client, "/generate",
                    #"{"inputs":"\#(Self.chatPrompt.replacingOccurrences(of: "\n", with: "\\n"))","parameters":{"max_new_tokens":12,"details":true}}"#))
            #expect(message["content"] as? String == tgi["generated_text"] as? String)
            let details = try #require(tgi["details"] as? [String: Any])
            let usage = try #require(body["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == details["generated_tokens"] as? Int)
            let expectedFinish = details["finish_reason"] as? String == "length" ? "length" : "stop"
            #expect(choice["finish_reason"] as? String == expectedFinish)
            let prompt = try RouteTests.object(
                try await RouteTests.post(
                    client, "/v1/completions",
                    #"{"prompt":"\#(Self.chatPrompt.replacingOccurrences(of: "\n", with: "\\n"))","max_tokens":1}"#))
            #expect(
                (prompt["usage"] as? [String: Any])?["prompt_tokens"] as? Int == usage["prompt_tokens"] as? Int)
            #expect(
                usage["total_tokens"] as? Int
                    == (usage["prompt_tokens"] as? Int ?? 0) + (usage["completion_tokens"] as? Int ?? 0))
        }
    }

    @Test func chatStreamFraming() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let plain = try RouteTests.object(try await RouteTests.post(client, "/v1/chat/completions", Self.chat + "}"))
            let r = try await RouteTests.post(
                client, "/v1/chat/completions", Self.chat + #","stream":true,"stream_options":{"include_usage":true}}"#)
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/event-stream")
            let (chunks, done) = try Self.events(r)
            #expect(done)
            let last = try #require(chunks.last)
            #expect((last["choices"] as? [Any])?.isEmpty == true)
            #expect(last["usage"] as? [String: Any] != nil)
            #expect(chunks.dropLast().allSatisfy { $0["usage"] is NSNull })
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            #expect(Set(chunks.compactMap { $0["id"] as? String }).count == 1)
            let choices = chunks.dropLast().map { ($0["choices"] as? [[String: Any]])?.first ?? [:] }
            for c in choices { #expect(Set(c.keys) == ["index", "delta", "logprobs", "finish_reason"]) }
            let first = try #require(choices.first?["delta"] as? [String: Any])
            #expect(first["role"] as? String == "assistant")
            #expect(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
            let message = ((plain["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
            let text = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
            #expect(text == message?["content"] as? String)
            #expect(
                choices.last?["finish_reason"] as? String
                    == (plain["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String)
            #expect(
                (last["usage"] as? [String: Any])?["completion_tokens"] as? Int
                    == (plain["usage"] as? [String: Any])?["completion_tokens"] as? Int)
            // Without include_usage there is no usage key at all.
            let bare = try Self.events(
                try await RouteTests.post(client, "/v1/chat/completions", Self.chat + #","stream":true}"#))
            #expect(bare.chunks.allSatisfy { $0["usage"] == nil && ($0["choices"] as? [Any])?.count == 1 })
        }
    }

    /// best_of candidates are seeded as n choices are; the n with the highest mean token logprob come back, best
    /// first: the oracle is the same candidates requested as n choices with their logprobs.
    @Test func completionsBestOfReturnsTheLikeliestCandidates() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            func post(_ extra: String, seed: Int) async throws -> [String: Any] {
                try RouteTests.object(
                    try await RouteTests.post(
                        client, "/v1/completions",
                        #"{"prompt":"Once upon a time","max_tokens":8,"temperature":1,"seed":\#(seed),\#(extra)}"#))
            }
            // A seed whose candidates do not already rank in seed order (else returning the first n would pass).
            var found: (seed: Int, all: [String: Any], candidates: [[String: Any]], ranked: [Int])?
            for seed in 5..<25 {
                let all = try await post(#""n":3,"logprobs":0"#, seed: seed)
                let candidates = try #require(all["choices"] as? [[String: Any]])
                let means = try candidates.map { c -> Double in
                    let lp = try #require((c["logprobs"] as? [String: Any])?["token_logprobs"] as? [Double])
                    return lp.reduce(0, +) / Double(lp.count)
                }
                let ranked = means.indices.sorted { means[$0] > means[$1] }
                if Array(ranked.prefix(2)) != [0, 1] {
                    found = (seed, all, candidates, ranked)
                    break
                }
            }
            let (seed, all, candidates, ranked) = try #require(found, "every seed tried ranks its candidates in seed order")
            let best = try await post(#""n":2,"best_of":3"#, seed: seed)
            let returned = try #require(best["choices"] as? [[String: Any]])
            #expect(returned.map { $0["index"] as? Int } == [0, 1])
            #expect(returned.map { $0["text"] as? String } == ranked.prefix(2).map { candidates[$0]["text"] as? String })
            let usage = { (body: [String: Any]) in (body["usage"] as? [String: Any])?["completion_tokens"] as? Int }
            #expect(usage(best) != nil && usage(best) == usage(all))
        }
    }

    /// Choice i of n is seeded seed + i: it equals choice 0 of a request seeded seed + i.
    @Test func nChoicesAreSeededInOrder() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            func texts(_ seed: Int, n: Int) async throws -> [String] {
                let body = try RouteTests.object(
                    try await RouteTests.post(
                        client, "/v1/chat/completions",
                        #"{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":10,"n":\#(n),"seed":\#(seed)}"#
                    ))
                let choices = try #require(body["choices"] as? [[String: Any]])
                #expect(choices.map { $0["index"] as? Int } == Array(0..<n))
                return choices.map { ($0["message"] as? [String: Any])?["content"] as? String ?? "" }
            }
            let pair = try await texts(41, n: 2)
            #expect(pair == [try await texts(41, n: 1)[0], try await texts(42, n: 1)[0]])
        }
    }

    @Test func completionsShapesEchoAndLogprobs() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let r = try await RouteTests.post(
                client, "/v1/completions",
                #"{"prompt":["The capital of France is","Hello"],"max_tokens":4,"temperature":0,"n":2,"echo":true,"logprobs":2}"#)
            #expect(r.status == .ok)
            let body = try RouteTests.object(r)
            #expect(body["object"] as? String == "text_completion")
            let choices = try #require(body["choices"] as? [[String: Any]])
            #expect(choices.map { $0["index"] as? Int } == [0, 1, 2, 3])
            #expect((choices[0]["text"] as? String)?.hasPrefix("The capital of France is") == true)
            #expect((choices[2]["text"] as? String)?.hasPrefix("Hello") == true)
            #expect(choices[0]["text"] as? String == choices[1]["text"] as? String)
            let tgi = try RouteTests.object(
                try await RouteTests.post(
                    client, "/generate",
                    #"{"inputs":"The capital of France is","parameters":{"max_new_tokens":4,"decoder_input_details":true,"details":true}}"#))
            #expect(choices[0]["text"] as? String == "The capital of France is" + (tgi["generated_text"] as? String ?? "?"))
            let lp = try #require(choices[0]["logprobs"] as? [String: Any])
            let tokens = try #require(lp["tokens"] as? [String])
            let details = try #require(tgi["details"] as? [String: Any])
            let prefill = try #require(details["prefill"] as? [[String: Any]])
            let generated = try #require(details["tokens"] as? [[String: Any]])
            #expect(tokens.count == prefill.count + generated.count)
            let logprobs = try #require(lp["token_logprobs"] as? [Any])
            #expect(logprobs.first is NSNull)
            // Prompt tokens after the first have the logprobs /generate's prefill reports.
            let expected = (prefill.dropFirst() + generated).map { $0["logprob"] as? Double }
            #expect(logprobs.count == expected.count + 1)
            for (a, b) in zip(logprobs.dropFirst().map { $0 as? Double }, expected) {
                #expect(a != nil && b != nil)
                if let a, let b { #expect(abs(a - b) < 1e-4) }
            }
            // Alternatives everywhere but at the first prompt token (null, as OpenAI writes it).
            let top = try #require(lp["top_logprobs"] as? [Any])
            #expect(top.first is NSNull)
            #expect(top.dropFirst().allSatisfy { ($0 as? [String: Double])?.count == 2 })
            let offsets = try #require(lp["text_offset"] as? [Int])
            #expect(offsets.first == 0 && offsets == offsets.sorted())
        }
    }

    /// The OpenAI routes count in TGI's metrics like the TGI routes: one request, one success or failure each.
    @Test func metricsCountOpenAIRequests() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            func value(_ name: String) async throws -> Int {
                let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
                return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            }
            let (count, success) = (try await value("tgi_request_count"), try await value("tgi_request_success"))
            let failed = try await value(#"tgi_request_failure{err="validation"}"#)
            _ = try await RouteTests.post(client, "/v1/chat/completions", Self.chat + "}")
            _ = try await RouteTests.post(client, "/v1/chat/completions", Self.chat + #","stream":true}"#)
            _ = try await RouteTests.post(client, "/v1/completions", #"{"prompt":"Hi","max_tokens":2,"n":2}"#)
            _ = try await RouteTests.post(client, "/v1/completions", #"{"prompt":"Hi","max_tokens":2,"top_p":5}"#)
            #expect(try await value("tgi_request_count") == count + 4)
            #expect(try await value("tgi_request_success") == success + 3)
            #expect(try await value(#"tgi_request_failure{err="validation"}"#) == failed + 1)
        }
    }

    /// No model yet: a 503 with OpenAI's body (the openai client raises InternalServerError for it).
    @Test func unavailableWhileLoading() async throws {
        let state = ServerState(
            config: ServerConfig(modelID: "x"), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let app = Application(router: makeRouter(state: state))
        try await app.test(.router) { client in
            for (uri, body) in [("/v1/chat/completions", Self.chat + "}"), ("/v1/completions", #"{"prompt":"x"}"#)] {
                let r = try await RouteTests.post(client, uri, body)
                #expect(r.status == .serviceUnavailable)
                #expect(try Self.error(r)["code"] as? String == "service_unavailable")
            }
        }
    }

    @Test func modelsList() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/models", method: .get)
            let body = try RouteTests.object(r)
            #expect(body["object"] as? String == "list")
            let data = try #require(body["data"] as? [[String: Any]])
            #expect(data.count == 1)
            #expect(data[0]["id"] as? String == "smollm2" && data[0]["owned_by"] as? String == "kiln")
            #expect(data[0]["object"] as? String == "model" && (data[0]["created"] as? Int ?? 0) > 1_600_000_000)
        }
    }

    @Test func validationStatusesAndErrorBodies() async throws {
        guard let app = try Self.app() else { return }
        try await app.test(.router) { client in
            let messages = #""messages":[{"role":"user","content":"Hi"}]"#
            let cases: [(String, String, HTTPResponse.Status, String?)] = [
                ("/v1/chat/completions", #"{\#(messages),"temperature":3}"#, .badRequest, "temperature"),
                ("/v1/chat/completions", #"{\#(messages),"top_p":0}"#, .badRequest, "top_p"),
                ("/v1/chat/completions", #"{\#(messages),"n":9}"#, .badRequest, "n"),
                ("/v1/chat/completions", #"{\#(messages),"max_tokens":0}"#, .badRequest, "max_tokens"),
                ("/v1/chat/completions", #"{\#(messages),"max_tokens":100000}"#, .badRequest, "max_tokens"),
                ("/v1/chat/completions", #"{\#(messages),"top_logprobs":2}"#, .badRequest, "top_logprobs"),
                ("/v1/chat/completions", #"{\#(messages),"logprobs":true,"top_logprobs":9}"#, .badRequest, "top_logprobs"),
                ("/v1/chat/completions", #"{\#(messages),"stop":["a","b","c","d","e"]}"#, .badRequest, "stop"),
                ("/v1/chat/completions", #"{\#(messages),"logit_bias":{"x":1}}"#, .badRequest, "logit_bias"),
                ("/v1/chat/completions", #"{\#(messages),"stream_options":{"include_usage":true}}"#, .badRequest, "stream_options"),
                ("/v1/chat/completions", #"{"messages":[]}"#, .badRequest, "messages"),
                ("/v1/chat/completions", #"{"messages":[{"role":"wizard","content":"Hi"}]}"#, .badRequest, "messages[0]"),
                ("/v1/chat/completions", #"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#, .unprocessableContent, "messages[0]"),
                ("/v1/chat/completions", #"{\#(messages),"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"array","uniqueItems":true}}}}"#, .unprocessableContent, "response_format"),
                ("/v1/chat/completions", #"{\#(messages),"response_format":{"type":"yaml"}}"#, .badRequest, "response_format"),
                ("/v1/chat/completions", #"{\#(messages),"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}"#, .badRequest, "tool_choice"),
                ("/v1/chat/completions", #"{"messages":"Hi"}"#, .badRequest, nil),
                ("/v1/chat/completions", #"{not json"#, .badRequest, nil),
                ("/v1/completions", #"{"prompt":"x","suffix":"y"}"#, .unprocessableContent, "suffix"),
                ("/v1/completions", #"{"prompt":"x","best_of":9}"#, .badRequest, "best_of"),
                ("/v1/completions", #"{"prompt":"x","n":3,"best_of":2}"#, .badRequest, "best_of"),
                ("/v1/completions", #"{"prompt":"x","best_of":2,"stream":true}"#, .badRequest, "best_of"),
                ("/v1/completions", #"{"prompt":[]}"#, .badRequest, "prompt"),
                ("/v1/completions", #"{"prompt":[1,2,99999999]}"#, .badRequest, "prompt"),
                ("/v1/completions", #"{"prompt":"x","logprobs":6}"#, .badRequest, "logprobs"),
            ]
            for (uri, body, status, param) in cases {
                let r = try await RouteTests.post(client, uri, body)
                #expect(r.status == status, "\(body)")
                let error = try Self.error(r)
                #expect(error["param"] as? String == param, "\(body)")
                if status == .unprocessableContent { #expect(error["code"] as? String == "unsupported_feature") }
                if status == .badRequest { #expect(error["type"] as? String == "invalid_request_error") }
            }
            let text = try await RouteTests.post(
                client, "/v1/chat/completions", #"{\#(messages),"max_tokens":2,"response_format":{"type":"text"}}"#)
            #expect(text.status == .ok)
        }
    }

    @Test func apiKeyAndOverloadUseOpenAIBodies() async throws {
        if let app = try Self.app({ $0.apiKey = "Secret" }) {
            try await app.test(.router) { client in
                let denied = try await RouteTests.post(client, "/v1/completions", #"{"prompt":"x","max_tokens":1}"#)
                #expect(denied.status == .unauthorized)
                #expect(try Self.error(denied)["code"] as? String == "invalid_api_key")
                let models = try await client.execute(uri: "/v1/models", method: .get)
                #expect(models.status == .unauthorized)
                let allowed = try await RouteTests.post(
                    client, "/v1/completions", #"{"prompt":"x","max_tokens":1}"#, headers: [.authorization: "Bearer Secret"])
                #expect(allowed.status == .ok)
            }
        }
        if let app = try Self.app({ $0.maxConcurrentRequests = 0 }) {
            try await app.test(.router) { client in
                let r = try await RouteTests.post(client, "/v1/chat/completions", Self.chat + #","stream":true}"#)
                #expect(r.status == .tooManyRequests)
                #expect(try Self.error(r)["type"] as? String == "rate_limit_error")
            }
        }
    }
}

/// Tool-call parsing against hand-written expectations from Qwen2.5's format, fed whole and byte by byte.
@Suite struct ToolCallParserTests {
    static func parse(_ chunks: [String], names: Set<String> = []) -> [ToolCallParser.Piece] {
        var parser = ToolCallParser(bareNames: names)
        var pieces = chunks.flatMap { parser.feed($0) } + parser.finish()
        // Adjacent text pieces are one text.
        var merged: [ToolCallParser.Piece] = []
        for piece in pieces {
            if case .text(let b) = piece, case .text(let a)? = merged.last {
                merged[merged.count - 1] = .text(a + b)
            } else {
                merged.append(piece)
            }
        }
        pieces = merged
        return pieces
    }

    static let cases: [(String, [ToolCallParser.Piece])] = [
        ("Hello <b>world</b>", [.text("Hello <b>world</b>")]),
        (
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>",
            [.call(name: "get_weather", arguments: #"{"city":"Paris","unit":"c"}"#)]
        ),
        (
            "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}\n</tool_call>\n",
            [.text("Let me check."), .call(name: "a", arguments: "{}"), .call(name: "b", arguments: #"{"x": 1}"#)]
        ),
        ("<tool_call>\nnot json\n</tool_call>", [.text("<tool_call>\nnot json\n</tool_call>")]),
        ("<tool_call>\n{\"name\": \"a\", \"argu", [.text("<tool_call>\n{\"name\": \"a\", \"argu")]),
        ("ends with <tool_ca", [.text("ends with <tool_ca")]),
        ("  \n", [.text("  \n")]),
        ("猫 🐱 <tool", [.text("猫 🐱 <tool")]),
    ]

    @Test(arguments: 0..<cases.count) func wholeAndCharacterByCharacterAgree(_ i: Int) {
        let (text, expected) = Self.cases[i]
        #expect(Self.parse([text]) == expected)
        #expect(Self.parse(text.map { String($0) }) == expected)
    }

    static let weather = #"{"name": "get_weather", "arguments": {"city": "Paris"}}"#

    /// Bare JSON calls (no tags) count only for an offered tool, at the start or right after another call.
    static let bareCases: [(String, [ToolCallParser.Piece])] = [
        (weather, [.call(name: "get_weather", arguments: #"{"city":"Paris"}"#)]),
        (
            "\n" + weather + "\n" + #"{"name": "get_weather", "arguments": {"q": "a}b\"{"}}"#,
            [
                .call(name: "get_weather", arguments: #"{"city":"Paris"}"#),
                .call(name: "get_weather", arguments: #"{"q":"a}b\"{"}"#),
            ]
        ),
        (#"{"name": "other", "arguments": {}}"#, [.text(#"{"name": "other", "arguments": {}}"#)]),
        ("Sure: " + weather, [.text("Sure: " + weather)]),
        (#"{"name": "get_weather", "argum"#, [.text(#"{"name": "get_weather", "argum"#)]),
    ]

    @Test(arguments: 0..<bareCases.count) func bareCallsWholeAndCharacterByCharacter(_ i: Int) {
        let (text, expected) = Self.bareCases[i]
        #expect(Self.parse([text], names: ["get_weather"]) == expected)
        #expect(Self.parse(text.map { String($0) }, names: ["get_weather"]) == expected)
        // Without offered names nothing bare is a call.
        #expect(Self.parse([text]).allSatisfy { if case .text = $0 { true } else { false } })
    }

    /// Nothing that could begin `<tool_call>` is let out early.
    @Test func holdsBackAPossibleOpening() {
        var parser = ToolCallParser()
        #expect(parser.feed("Hi <tool") == [.text("Hi")])
        #expect(parser.feed("_call>\n{\"name\": \"f\"}\n</tool_call>") == [.call(name: "f", arguments: "{}")])
        #expect(parser.finish() == [])
    }
}
