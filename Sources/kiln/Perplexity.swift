import ArgumentParser
import Foundation
import KilnModels

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's perplexity on a text file (as llama-perplexity does).",
        discussion: """
            The text is tokenized without special tokens and cut into chunks of --context tokens; each chunk runs from
            an empty cache and its second half is scored. Prints the running perplexity after each chunk, then the
            final figure with its standard error.
            """)

    @Option(name: [.customShort("m"), .long], help: "A GGUF file, Hugging Face directory or engine file.")
    var model: String

    @Option(help: "The text file to score.")
    var text: String

    @Option(name: [.customShort("c"), .long], help: "Tokens per chunk.")
    var context: Int = 512

    @Option(help: "Score only the first N chunks (default: all).")
    var chunks: Int?

    @Option(help: "Activation precision: fast (8-bit activations, the default path) or reference (float32).")
    var precision: String = "fast"

    @Option(name: .shortAndLong, help: "Compute threads (default: the machine's cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("kv-cache-dtype"), help: ArgumentHelp(stringLiteral: KVCacheOption.help))
    var kvCacheDType: String?

    func validate() throws {
        guard KilnModels.Precision(rawValue: precision) != nil else {
            throw ValidationError("--precision must be fast or reference")
        }
        guard context >= 2 else { throw ValidationError("--context must be at least 2") }
        _ = try KVCacheOption.parse(kvCacheDType)
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: text) else {
            printError("error: \(text): cannot read the text file")
            throw ExitCode(1)
        }
        let loaded = try reportingErrors { try LoadedModel.load(model, threads: threads) }
        loaded.transformer.precision = KilnModels.Precision(rawValue: precision) ?? .fast
        if let dtype = try KVCacheOption.parse(kvCacheDType) { loaded.transformer.kvCacheDType = dtype }
        var tokens = loaded.tokenizer.encode(String(decoding: data, as: UTF8.self), addSpecialTokens: false, parseSpecial: false)
        if let chunks { tokens = Array(tokens.prefix(max(chunks, 1) * context)) }
        printError("perplexity: \(tokens.count) tokens, \(tokens.count / context) chunks of \(context)")
        let start = ContinuousClock.now
        let result = try reportingErrors {
            try loaded.transformer.perplexity(tokens, context: context) { r in
                FileHandle.standardError.write(Data(String(format: "[%d]%.4f,", r.chunks, r.perplexity).utf8))
            }
        }
        let elapsed = ContinuousClock.now - start
        printError(String(format: "\n%.1f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        print(String(format: "PPL = %.4f +/- %.4f (%d tokens scored)", result.perplexity, result.standardError, result.scoredTokens))
    }
}
