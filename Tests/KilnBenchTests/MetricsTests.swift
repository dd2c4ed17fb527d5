import Foundation
import KilnBench
import Testing

@Suite struct MetricsTests {
    /// numpy.percentile's default (linear) method; expected values computed with numpy 2.x:
    /// np.percentile([1, 2, 3, 4, 10], [50, 90, 99]) = [3, 7.6, 9.76]; np.std(...) = 3.1622776601683795.
    @Test func percentilesAndDeviationMatchNumpy() {
        let s = LatencyStats(seconds: [0.004, 0.001, 0.010, 0.002, 0.003])
        #expect(abs(s.median - 3) < 1e-9)
        #expect(abs(s.p90 - 7.6) < 1e-9)
        #expect(abs(s.p99 - 9.76) < 1e-9)
        #expect(abs(s.mean - 4) < 1e-9)
        #expect(abs(s.std - 3.1622776601683795) < 1e-9)
        #expect(s.min == 1 && s.max == 10)
        #expect(LatencyStats(seconds: []).p99 == 0)
    }

    /// Requests built from token arrival times; the expected numbers follow vLLM's definitions written out by hand
    /// (benchmark_serving.py calculate_metrics), not through the code under test.
    @Test func summaryFollowsVLLMDefinitions() {
        // Request A: tokens at 0.1, 0.3, 0.4, 0.7 s, response ends at 0.75 s. Request B: one token at 0.2, ends 0.25.
        // Request C failed.
        let a = [0.1, 0.3, 0.4, 0.7]
        let outcomes = [
            RequestOutcome(
                success: true, promptTokens: 10, outputTokens: 4, ttft: a[0], itl: [0.2, 0.1, 0.3], latency: 0.75),
            RequestOutcome(success: true, promptTokens: 12, outputTokens: 1, ttft: 0.2, itl: [], latency: 0.25),
            RequestOutcome.failed("boom", sentAt: 0, latency: 0.01),
        ]
        let s = BenchSummary(outcomes: outcomes, duration: 2, objectives: ServiceLevelObjectives(ttftMs: 150))
        #expect(s.completed == 2 && s.failed == 1)
        #expect(s.totalInputTokens == 22 && s.totalOutputTokens == 5)
        #expect(abs(s.requestThroughput - 1.0) < 1e-12)
        #expect(abs(s.outputThroughput - 2.5) < 1e-12)
        #expect(abs(s.totalTokenThroughput - 13.5) < 1e-12)
        // Only A meets TTFT ≤ 150 ms.
        #expect(abs((s.requestGoodput ?? -1) - 0.5) < 1e-12)
        // TPOT only for A: (0.75 - 0.1) / 3.
        #expect(s.tpot.mean.isApproximately(650.0 / 3))
        // ITL pooled: 200, 100, 300 ms.
        #expect(s.itl.mean.isApproximately(200) && s.itl.median.isApproximately(200))
        #expect(s.ttft.mean.isApproximately(150))
        #expect(s.e2el.mean.isApproximately(500))
    }

    @Test func goodputObjectivesAreAllOrNothing() {
        let r = RequestOutcome(success: true, promptTokens: 1, outputTokens: 11, ttft: 0.05, itl: [], latency: 1.05)
        // TPOT = 100 ms.
        #expect(ServiceLevelObjectives(ttftMs: 60, tpotMs: 100).met(by: r))
        #expect(!ServiceLevelObjectives(ttftMs: 60, tpotMs: 99).met(by: r))
        #expect(!ServiceLevelObjectives(e2elMs: 1000).met(by: r))
    }

    @Test func poissonArrivalsHaveTheRequestedRate() {
        let times = LoadShape(requestRate: 4, seed: 7).sendTimes(count: 20001)
        #expect(times.first == 0)
        #expect(zip(times.dropFirst(), times).allSatisfy { $0 >= $1 })
        // Mean gap 1/4 s; the standard error over 20000 exponential gaps is 0.25/sqrt(20000) ≈ 0.0018.
        let meanGap = times.last! / 20000
        #expect(abs(meanGap - 0.25) < 0.01)
        #expect(LoadShape(requestRate: .infinity).sendTimes(count: 3) == [0, 0, 0])
        #expect(LoadShape(requestRate: 4, seed: 7).sendTimes(count: 50) == Array(times.prefix(50)))
    }
}

@Suite struct SSEParserTests {
    /// The event stream format (WHATWG HTML, server-sent events): events end at a blank line, `data:` lines keep
    /// one optional leading space off, multiple `data:` lines join with a newline, other fields are ignored.
    @Test func splitsEventsWhereverTheBytesAreCut() {
        let stream = "data:{\"a\":1}\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata: one\ndata: two\n\n: comment\n\ndata: [DONE]\n\n"
        let expected = [#"{"a":1}"#, #"{"b":2}"#, "one\ntwo", "[DONE]"]
        var whole = SSEParser()
        let all = whole.feed(Array(stream.utf8)) + whole.finish()
        #expect(all == expected)
        for cut in 1..<8 {
            var parser = SSEParser()
            var got: [String] = []
            let bytes = Array(stream.utf8)
            var i = 0
            while i < bytes.count {
                got += parser.feed(bytes[i..<min(i + cut, bytes.count)])
                i += cut
            }
            got += parser.finish()
            #expect(got == expected, "chunks of \(cut) bytes")
        }
    }

    @Test func keepsAnUnterminatedLastEvent() {
        var parser = SSEParser()
        let first = parser.feed(Array("data:x\n\ndata:y".utf8))
        let rest = parser.finish()
        #expect(first == ["x"])
        #expect(rest == ["y"])
    }
}

extension Double {
    func isApproximately(_ other: Double) -> Bool { abs(self - other) <= 1e-9 * max(1, abs(other)) }
}
