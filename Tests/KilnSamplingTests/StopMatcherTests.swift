import KilnSampling
import Testing

/// Stop sequences found across every way of splitting the text into pieces, with nothing leaked.
@Suite struct StopMatcherTests {
    /// Every split of `text` into non-empty pieces at character boundaries (2^(n−1) of them).
    static func splits(_ text: String) -> [[String]] {
        let characters = Array(text)
        guard characters.count > 1 else { return [[text]] }
        return (0..<(1 << (characters.count - 1))).map { cuts in
            var pieces: [String] = []
            var current = String(characters[0])
            for i in 1..<characters.count {
                if cuts & (1 << (i - 1)) != 0 {
                    pieces.append(current)
                    current = ""
                }
                current.append(characters[i])
            }
            pieces.append(current)
            return pieces
        }
    }

    struct Outcome: Equatable {
        var text: String
        var reason: FinishReason?
        var matched: String?
    }

    /// Feeds the pieces; the emitted text must only ever grow into the expected output.
    static func run(_ pieces: [String], stops: [String], expected: String) -> Outcome {
        var matcher = StopMatcher(stopSequences: stops)
        var emitted = ""
        var reason: FinishReason?
        for piece in pieces where reason == nil {
            let output = matcher.feed(piece)
            emitted += output.text
            reason = output.finishReason
            #expect(expected.hasPrefix(emitted), "pieces \(pieces): emitted \(emitted.debugDescription) early")
        }
        if reason == nil { emitted += matcher.finish() }
        return Outcome(text: emitted, reason: reason, matched: matcher.matchedSequence)
    }

    static let cases: [(text: String, stops: [String], output: String, matched: String?)] = [
        ("a###b", ["###"], "a", "###"),
        ("###", ["###"], "", "###"),
        ("a##b##", ["###"], "a##b##", nil),  // held-back "##" released when "b" breaks the match
        ("x#y##z###", ["###"], "x#y##z", "###"),
        ("hello world", ["wor", "lo w"], "hel", "lo w"),  // "lo w" ends first
        ("abcdef", ["abcde", "cd"], "ab", "cd"),  // "cd" completes before "abcde"
        ("abcd", ["bcd", "abcd"], "", "abcd"),  // same end: the earlier start wins
        ("naïve café", ["é"], "naïve caf", "é"),
        ("ééé!", ["é!"], "éé", "é!"),
        ("no stop here", ["zz"], "no stop here", nil),
        ("aaab", ["aab"], "a", "aab"),  // overlapping prefixes
    ]

    @Test(arguments: cases.indices) func everySplitGivesTheSameOutput(index: Int) {
        let c = Self.cases[index]
        for pieces in Self.splits(c.text) {
            let outcome = Self.run(pieces, stops: c.stops, expected: c.output)
            let want = Outcome(text: c.output, reason: c.matched == nil ? nil : .stopSequence, matched: c.matched)
            #expect(outcome == want, "pieces \(pieces)")
        }
    }

    @Test func threeHashesOneAtATime() {
        var matcher = StopMatcher(stopSequences: ["###"])
        #expect(matcher.feed("#") == .init(text: "", finishReason: nil))
        #expect(matcher.feed("#") == .init(text: "", finishReason: nil))
        #expect(matcher.feed("#") == .init(text: "", finishReason: .stopSequence))
        #expect(matcher.feed("more") == .init(text: "", finishReason: .stopSequence))
    }

    @Test func heldBackTextIsReleasedWhenTheMatchFails() {
        var matcher = StopMatcher(stopSequences: ["###"])
        #expect(matcher.feed("a##") == .init(text: "a", finishReason: nil))
        #expect(matcher.feed("#b") == .init(text: "", finishReason: .stopSequence))
        var other = StopMatcher(stopSequences: ["###"])
        #expect(other.feed("a##") == .init(text: "a", finishReason: nil))
        #expect(other.feed("b") == .init(text: "##b", finishReason: nil))
        #expect(other.feed("#") == .init(text: "", finishReason: nil))
        #expect(other.finish() == "#")
    }

    @Test func noStopSequencesPassesTextThrough() {
        var matcher = StopMatcher(stopSequences: [])
        #expect(matcher.feed("###") == .init(text: "###", finishReason: nil))
        #expect(matcher.finish() == "")
    }

    @Test func finishReasonsAreSpelledAsTGI() {
        #expect(FinishReason.allCases.map(\.rawValue) == ["length", "eos_token", "stop_sequence"])
    }

    @Test func stoppingCriteriaChecksLengthThenStopTokens() throws {
        let params = try SamplingRequest(stopTokenIDs: [7], maxNewTokens: 3).validate()
        var criteria = StoppingCriteria(parameters: params, eosTokenIDs: [2])
        #expect(criteria.check(5) == nil)
        #expect(criteria.check(7) == .eosToken)
        var eosLast = StoppingCriteria(parameters: params, eosTokenIDs: [2])
        #expect(eosLast.check(5) == nil && eosLast.check(5) == nil)
        #expect(eosLast.check(2) == .length)  // TGI checks the limit first
        let ignoring = try SamplingRequest(stopTokenIDs: [7], ignoreEOS: true, maxNewTokens: 10).validate()
        var ignoringEOS = StoppingCriteria(parameters: ignoring, eosTokenIDs: [2])
        #expect(ignoringEOS.check(2) == nil)
        #expect(ignoringEOS.check(7) == .eosToken)  // stop token ids apply even with ignore_eos
    }
}
