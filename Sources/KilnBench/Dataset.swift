import Foundation

/// A small seeded generator (SplitMix64), so that a seed gives the same prompts and arrival times everywhere.
public struct BenchRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    public mutating func unit() -> Double { (Double(next() >> 11) + 1) / 9_007_199_254_740_992 }

    /// Exponentially distributed with the given rate: the gaps between Poisson arrivals.
    public mutating func exponential(rate: Double) -> Double { -Foundation.log(unit()) / rate }
}

public enum BenchDataset {
    /// Common English words: with a leading space each is one token in the BPE vocabularies of the Llama, Qwen
    /// and SmolLM families, so n words make close to n tokens before the server's tokenizer refines the count.
    static let words: [String] = """
        time year people way day man thing woman life child world school state family student group country \
        problem hand part place case week company system program question work government number night point \
        home water room mother area money story fact month lot right study book eye job word business issue \
        side kind head house service friend father power hour game line end member law car city community name \
        president team minute idea kid body information back parent face others level office door health person \
        art war history party result change morning reason research girl guy moment air teacher force education \
        foot boy age policy music market sense nation plan college interest death experience effect class control \
        care field development role effort rate heart drug show leader light voice wife police mind price report \
        decision son view relationship town road arm difference value building action model season society tax \
        director position player record paper space ground form event official matter center couple site project \
        activity star table need court oil situation cost industry figure street image phone data picture practice \
        piece land product doctor wall patient worker news test movie north love support technology step baby \
        computer type attention film tree source organization hair window evidence population site river garden
        """.split(separator: " ").map(String.init)

    /// `count` prompts of about `inputTokens` tokens each, from random common words. When `countTokens` can ask
    /// the server, each prompt is trimmed or extended until the server's tokenizer counts exactly `inputTokens`
    /// (a few rounds at most); otherwise the word count stands in for the token count.
    public static func random(
        count: Int, inputTokens: Int, outputTokens: Int, seed: UInt64,
        countTokens: (String) async -> Int?
    ) async -> [BenchPrompt] {
        var rng = BenchRandom(seed: seed)
        var prompts: [BenchPrompt] = []
        for _ in 0..<count {
            var chosen = (0..<(inputTokens + 8)).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            var n = inputTokens
            var tokens = n
            for _ in 0..<6 {
                let text = chosen.prefix(n).joined(separator: " ")
                guard let counted = await countTokens(text) else { break }
                tokens = counted
                if counted == inputTokens { break }
                n = max(1, min(chosen.count, n + inputTokens - counted))
                while chosen.count < n { chosen.append(words[Int(rng.next() % UInt64(words.count))]) }
            }
            prompts.append(BenchPrompt(text: chosen.prefix(n).joined(separator: " "), tokens: tokens, outputTokens: outputTokens))
        }
        return prompts
    }

    /// Prompts from a file: JSON lines with `prompt` (and optionally `output_tokens` or `max_tokens`), or plain
    /// text with one prompt per line. Prompts repeat in order when the file has fewer than `count`.
    public static func file(
        _ path: String, count: Int, outputTokens: Int, countTokens: (String) async -> Int?
    ) async throws -> [BenchPrompt] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var entries: [(String, Int)] = []
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            if line.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let prompt = object["prompt"] as? String
            {
                let out = object["output_tokens"] as? Int ?? object["max_tokens"] as? Int ?? outputTokens
                entries.append((prompt, out))
            } else {
                entries.append((String(line), outputTokens))
            }
        }
        guard !entries.isEmpty else { throw BenchError("\(path) has no prompts") }
        var prompts: [BenchPrompt] = []
        for i in 0..<count {
            let (prompt, out) = entries[i % entries.count]
            let tokens = await countTokens(prompt) ?? prompt.split(separator: " ").count
            prompts.append(BenchPrompt(text: prompt, tokens: tokens, outputTokens: out))
        }
        return prompts
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
