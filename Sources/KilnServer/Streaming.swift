import Foundation
import HTTPTypes
import Hummingbird
import KilnEngine
import KilnSampling

/// Server-sent events as TGI writes them: `data:<json>\n\n`, no `[DONE]` sentinel on /generate_stream.
enum SSE {
    static func event(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var buffer = ByteBuffer(string: "data:")
        buffer.writeBytes((try? encoder.encode(value)) ?? Data(#"{"error":"Stream event serialization error","error_type":"stream_serialization_error"}"#.utf8))
        buffer.writeString("\n\n")
        return buffer
    }
}

/// A `/generate_stream` reply (and `POST /` with `"stream": true`).
///
/// TGI's last event is the last token itself, carrying `generated_text` and `details`, and the engine only says a
/// sequence ended after its last token. So a token that *could* end the sequence (an end token, the
/// `max_new_tokens`-th token, or any token while stop sequences are set) is held until the engine's next event
/// says whether it was the last; every other token goes out as soon as it is sampled.
///
/// Errors after the stream has started, and errors of validation and admission too, arrive as one
/// `data:{"error":…,"error_type":…}` event on a 200 response, as TGI does. If the client goes away, the next write
/// throws, the engine stream is dropped, and the engine cancels the sequence and frees its KV blocks.
struct StreamingReply: Sendable {
    let state: ServerState
    let ready: ServerState.Ready
    let request: ValidGenerateRequest
    let route: GenerationRoute
    let arrived: ContinuousClock.Instant
    let validation: Double
    let trace: RequestTrace

    static func headers(computeType: String) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        if let name = HTTPField.Name("x-compute-type") { headers[name] = computeType }
        if let name = HTTPField.Name("x-accel-buffering") { headers[name] = "no" }
        return headers
    }

    func response(permit: Permit) -> Response {
        var headers = Self.headers(computeType: state.config.computeType)
        if let name = HTTPField.Name("x-compute-characters") { headers[name] = String(request.inputs.count) }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { withExtendedLifetime(permit) {} }
                try await self.write(to: &writer)
            })
    }

    private func couldEnd(_ token: GeneratedToken, count: Int) -> Bool {
        let p = request.parameters
        return !p.stopSequences.isEmpty || count >= p.maxNewTokens || p.stopTokenIDs.contains(token.id)
            || ready.engine.model.stopTokenIDs.contains(token.id)
    }

    private func write(to writer: inout any ResponseBodyWriter) async throws {
        let builder = ResponseBuilder(tokenizer: ready.tokenizer)
        let wantsTop = request.parameters.topNTokens > 0
        var held: GeneratedToken?
        var lastSent: GeneratedToken?
        var count = 0
        var firstToken: Double?
        var finished = false
        func event(_ t: GeneratedToken, index: Int, extraText: String = "") -> StreamResponse {
            StreamResponse(
                index: index, token: builder.token(t, extraText: extraText),
                topTokens: wantsTop ? builder.alternatives(t) : [], generatedText: nil, details: nil)
        }
        let stream = ready.engine.submit(
            GenerationRequest(
                promptTokens: request.promptTokens, parameters: request.parameters, constraint: request.constraint))
        var text = ""
        do {
            for try await engineEvent in stream {
                switch engineEvent {
                case .prompt: break
                case .token(let token):
                    if let h = held {
                        try await writer.write(SSE.event(event(h, index: count)))
                        lastSent = h
                        held = nil
                    }
                    count += 1
                    if firstToken == nil { firstToken = seconds(since: arrived) }
                    text += token.text
                    if couldEnd(token, count: count) {
                        held = token
                    } else {
                        try await writer.write(SSE.event(event(token, index: count)))
                        lastSent = token
                    }
                case .finished(let completion):
                    guard held != nil || lastSent != nil else { break }
                    finished = true
                    text += completion.trailingText
                    // The last token is normally held; were it not, it is repeated so the final event still
                    // carries a token, as TGI's clients expect.
                    let last = (held ?? lastSent)!
                    var closing = event(last, index: count, extraText: completion.trailingText)
                    closing.generatedText = (request.returnFullText ? request.inputs : "") + text
                    closing.details = StreamDetails(
                        finishReason: completion.reason.rawValue, generatedTokens: count,
                        seed: request.parameters.isGreedy ? nil : completion.seed,
                        inputLength: request.promptTokens.count)
                    held = nil
                    try await writer.write(SSE.event(closing))
                    let timings = RequestTimings(
                        total: seconds(since: arrived), validation: validation, queue: completion.queueSeconds,
                        inference: completion.inferenceSeconds, timeToFirstToken: firstToken,
                        promptTokens: request.promptTokens.count, generatedTokens: count,
                        maxNewTokens: request.parameters.maxNewTokens)
                    ready.metrics.succeeded(timings)
                    RequestLog.finished(state.logger, route: route, timings: timings, reason: completion.reason.rawValue)
                    trace.phases(
                        validation: validation, queue: completion.queueSeconds, firstToken: firstToken,
                        inference: completion.inferenceSeconds, promptTokens: request.promptTokens.count,
                        generatedTokens: count)
                    trace.end()
                }
            }
            if !finished {
                let error = ServerError.incompleteGeneration
                trace.phases(validation: validation)
                trace.end(error: error)
                ready.metrics.failed(error)
                RequestLog.failed(state.logger, route: route, error: error)
                try await writer.write(SSE.event(ErrorResponse(error: "Incomplete generation stream", errorType: "incomplete_generation_stream")))
            }
        } catch let error as EngineError {
            let serverError = ServerError(engine: error)
            trace.phases(validation: validation)
            trace.end(error: serverError)
            ready.metrics.failed(serverError)
            RequestLog.failed(state.logger, route: route, error: serverError)
            try await writer.write(SSE.event(serverError.body))
        } catch {
            // A write failed: the client went away. Leaving the loop drops the engine stream, which cancels it.
            trace.phases(validation: validation)
            trace.end(error: .generation("the client went away"))
            ready.metrics.dropped()
            RequestLog.dropped(state.logger, route: route, generated: count)
            throw error
        }
        try await writer.finish(nil)
    }
}
