import Foundation
import HTTPTypes
import Hummingbird
import KilnEngine
import KilnTemplates

/// Running the engine sequences of an OpenAI request: several at once (n choices, several prompts), collected for
/// one reply or written as one SSE stream.
extension Generation {
    /// Runs every request to its end at once; results in the requests' order.
    static func collectAll(
        _ engine: Engine, _ requests: [GenerationRequest], arrived: ContinuousClock.Instant
    ) async throws(ServerError) -> [Collected] {
        var collected = Array(repeating: Collected(), count: requests.count)
        do {
            for try await (index, event) in merged(engine, requests) {
                switch event {
                case .prompt(let info): collected[index].prompt = info
                case .token(let token):
                    if collected[index].firstToken == nil { collected[index].firstToken = seconds(since: arrived) }
                    collected[index].tokens.append(token)
                case .finished(let completion): collected[index].completion = completion
                }
            }
        } catch {
            throw ServerError(engine: error)
        }
        guard collected.allSatisfy({ $0.completion != nil }) else { throw .incompleteGeneration }
        return collected
    }

    /// Submits requests, each run of consecutive requests with one prompt (n choices of it) as one engine group:
    /// the prompt is computed once and its KV blocks shared by the group's sequences. One stream per request.
    static func submitSharingPrompts(_ engine: Engine, _ requests: [GenerationRequest])
        -> [AsyncThrowingStream<GenerationEvent, any Error>]
    {
        var streams: [AsyncThrowingStream<GenerationEvent, any Error>] = []
        var start = 0
        while start < requests.count {
            var end = start + 1
            while end < requests.count, requests[end].promptTokens == requests[start].promptTokens { end += 1 }
            streams += end - start > 1 ? engine.submit(Array(requests[start..<end])) : [engine.submit(requests[start])]
            start = end
        }
        return streams
    }

    /// The events of several sequences as one stream, each tagged with its request's index. Dropping the stream
    /// cancels every sequence.
    static func merged(_ engine: Engine, _ requests: [GenerationRequest])
        -> AsyncThrowingStream<(index: Int, event: GenerationEvent), any Error>
    {
        let (stream, continuation) = AsyncThrowingStream<(index: Int, event: GenerationEvent), any Error>.makeStream()
        let streams = submitSharingPrompts(engine, requests)
        let task = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, s) in streams.enumerated() {
                        group.addTask {
                            for try await event in s { continuation.yield((i, event)) }
                        }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// Turns one route's engine events into OpenAI chunks; `OpenAIStream` does the rest.
protocol OpenAIChunker: Sendable {
    /// Chunks before any token (the assistant role, echoed prompts).
    mutating func start() -> [Value]
    /// Chunks when a choice's prompt has been computed (echoed prompts with their log-probabilities).
    mutating func prompt(_ info: PromptInfo, choice: Int) -> [Value]
    mutating func token(_ token: GeneratedToken, choice: Int) -> [Value]
    mutating func finish(_ completion: Completion, choice: Int) -> [Value]
    /// The last chunk when `stream_options.include_usage` is set: no choices, the request's usage.
    func usage(_ usage: Value) -> Value
}

extension OpenAIChunker {
    mutating func prompt(_ info: PromptInfo, choice: Int) -> [Value] { [] }
}

/// A streamed OpenAI reply: `data: {chunk}` events, the usage chunk when asked for, then `data: [DONE]`. Errors
/// before the first byte are HTTP errors with OpenAI's body; an engine failure later is a `data: {"error": …}`
/// event (the openai client raises it). A client that goes away cancels every choice's sequence.
struct OpenAIStream<Chunker: OpenAIChunker>: Sendable {
    let state: ServerState
    let ready: ServerState.Ready
    let route: GenerationRoute
    let requests: [GenerationRequest]
    let chunker: Chunker
    let includeUsage: Bool
    /// Prompt tokens counted once per prompt (n choices of one prompt count it once).
    let promptTokens: Int
    let arrived: ContinuousClock.Instant
    let validation: Double
    let trace: RequestTrace

    func response(permit: Permit) -> Response {
        Response(
            status: .ok, headers: StreamingReply.headers(computeType: state.config.computeType),
            body: ResponseBody { writer in
                defer { withExtendedLifetime(permit) {} }
                try await self.write(to: &writer)
            })
    }

    private func write(to writer: inout any ResponseBodyWriter) async throws {
        var chunker = self.chunker
        var generated = 0
        var firstToken: Double?
        var finished = 0
        var queue = 0.0
        var inference = 0.0
        var reason: String?
        do {
            for chunk in chunker.start() { try await writer.write(OpenAIReply.event(chunk)) }
            for try await (index, event) in Generation.merged(ready.engine, requests) {
                var chunks: [Value] = []
                switch event {
                case .prompt(let info): chunks = chunker.prompt(info, choice: index)
                case .token(let token):
                    generated += 1
                    if firstToken == nil { firstToken = seconds(since: arrived) }
                    chunks = chunker.token(token, choice: index)
                case .finished(let completion):
                    finished += 1
                    queue = max(queue, completion.queueSeconds)
                    inference = max(inference, completion.inferenceSeconds)
                    reason = completion.reason.rawValue
                    chunks = chunker.finish(completion, choice: index)
                }
                for chunk in chunks { try await writer.write(OpenAIReply.event(chunk)) }
            }
            guard finished == requests.count else { throw ServerError.incompleteGeneration }
        } catch let error as EngineError {
            try await fail(ServerError(engine: error), writer: &writer)
            return
        } catch let error as ServerError {
            try await fail(error, writer: &writer)
            return
        } catch {
            // A write failed: the client went away. Leaving the loop drops the merged stream, which cancels it.
            trace.phases(validation: validation)
            trace.end(error: .generation("the client went away"))
            ready.metrics.dropped()
            RequestLog.dropped(state.logger, route: route, generated: generated)
            throw error
        }
        if includeUsage {
            try await writer.write(
                OpenAIReply.event(chunker.usage(OpenAIReply.usage(prompt: promptTokens, completion: generated))))
        }
        try await writer.write(OpenAIReply.done)
        try await writer.finish(nil)
        let timings = RequestTimings(
            total: seconds(since: arrived), validation: validation, queue: queue, inference: inference,
            timeToFirstToken: firstToken, promptTokens: promptTokens, generatedTokens: generated,
            maxNewTokens: requests.first?.parameters.maxNewTokens ?? 0)
        trace.phases(
            validation: validation, queue: queue, firstToken: firstToken, inference: inference,
            promptTokens: promptTokens, generatedTokens: generated)
        trace.end()
        ready.metrics.succeeded(timings)
        RequestLog.finished(state.logger, route: route, timings: timings, reason: reason)
    }

    private func fail(_ error: ServerError, writer: inout any ResponseBodyWriter) async throws {
        trace.phases(validation: validation)
        trace.end(error: error)
        ready.metrics.failed(error)
        RequestLog.failed(state.logger, route: route, error: error)
        try await writer.write(OpenAIReply.event(OpenAIError(error).body))
        try await writer.finish(nil)
    }
}
