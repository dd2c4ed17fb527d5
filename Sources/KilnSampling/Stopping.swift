/// Why a sequence stopped, spelled as TGI's `finish_reason` (`rawValue`); OpenAI routes map `eosToken` and
/// `stopSequence` to "stop".
public enum FinishReason: String, Sendable, Equatable, CaseIterable {
    case length
    case eosToken = "eos_token"
    case stopSequence = "stop_sequence"
}

/// The token-level stop rules of one sequence: the `maxNewTokens` limit, end-of-sequence tokens (unless
/// `ignoreEOS`) and `stopTokenIDs` (always). Text stop sequences are `StopMatcher`'s.
public struct StoppingCriteria: Sendable {
    public let maxNewTokens: Int
    public private(set) var generatedCount = 0
    private let stopTokens: Set<Int32>

    public init(parameters: SamplingParameters, eosTokenIDs: some Sequence<Int32>) {
        maxNewTokens = parameters.maxNewTokens
        var stops = Set(parameters.stopTokenIDs)
        if !parameters.ignoreEOS { stops.formUnion(eosTokenIDs) }
        stopTokens = stops
    }

    /// Counts `token` as generated and says whether the sequence ends with it. The limit is checked first, as TGI's
    /// `StoppingCriteria` does: an end-of-sequence token that is also the last allowed one reports `length`.
    public mutating func check(_ token: Int32) -> FinishReason? {
        generatedCount += 1
        if generatedCount >= maxNewTokens { return .length }
        if stopTokens.contains(token) { return .eosToken }
        return nil
    }
}

/// Finds stop sequences in generated text that arrives in pieces (from `StreamingDetokenizer`), across any piece
/// boundaries, and says which text is safe to show.
///
/// Text that could still be the start of a stop sequence is held back until it either completes one (then it
/// and everything after it are dropped) or cannot (then it is released). Matching is on UTF-8 bytes, so exact and
/// without Unicode normalisation. When several stop sequences occur, the one that ends first wins, and of those
/// the one that starts first: the result is the same whichever way the text was split into pieces.
/// The output never contains the stop sequence (vLLM's default, `include_stop_str_in_output: false`).
public struct StopMatcher: Sendable {
    /// What `feed` gives back: text to emit now, and `.stopSequence` once a stop sequence completed.
    public struct Output: Sendable, Equatable {
        public var text: String
        public var finishReason: FinishReason?

        public init(text: String, finishReason: FinishReason?) {
            self.text = text
            self.finishReason = finishReason
        }
    }

    public let stopSequences: [String]
    /// The stop sequence that ended generation, once one has.
    public private(set) var matchedSequence: String?
    private let stops: [[UInt8]]
    private var held: [UInt8] = []  // the tail that may begin a stop sequence; always shorter than the longest one

    public init(stopSequences: [String]) {
        self.stopSequences = stopSequences
        stops = stopSequences.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds the next piece of generated text. After a match, every later piece gives back nothing.
    public mutating func feed(_ piece: String) -> Output {
        guard matchedSequence == nil else { return Output(text: "", finishReason: .stopSequence) }
        guard !stops.isEmpty else { return Output(text: piece, finishReason: nil) }
        held.append(contentsOf: piece.utf8)
        if let (index, start) = firstMatch() {
            matchedSequence = stopSequences.first { Array($0.utf8) == stops[index] }
            let text = String(decoding: held[..<start], as: UTF8.self)
            held.removeAll()
            return Output(text: text, finishReason: .stopSequence)
        }
        let release = held.count - longestPendingPrefix()
        let text = String(decoding: held[..<release], as: UTF8.self)
        held.removeFirst(release)
        return Output(text: text, finishReason: nil)
    }

    /// Releases the held-back text when generation ends for another reason (length, end of sequence).
    public mutating func finish() -> String {
        let text = String(decoding: held, as: UTF8.self)
        held.removeAll()
        return text
    }

    /// The stop sequence (index) whose first occurrence in `held` ends first, earliest start on ties, and its start.
    private func firstMatch() -> (index: Int, start: Int)? {
        var best: (index: Int, start: Int, end: Int)?
        for (index, stop) in stops.enumerated() {
            guard let start = Self.firstOccurrence(of: stop, in: held) else { continue }
            let end = start + stop.count
            if let b = best, b.end < end || (b.end == end && b.start <= start) { continue }
            best = (index, start, end)
        }
        return best.map { ($0.index, $0.start) }
    }

    /// The length of the longest suffix of `held` that is a proper prefix of some stop sequence.
    private func longestPendingPrefix() -> Int {
        var longest = 0
        for stop in stops {
            var length = Swift.min(stop.count - 1, held.count)
            while length > longest {
                if held[(held.count - length)...].elementsEqual(stop[..<length]) {
                    longest = length
                    break
                }
                length -= 1
            }
        }
        return longest
    }

    private static func firstOccurrence(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start] == needle[0] && haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
