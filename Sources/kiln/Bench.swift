import ArgumentParser
import Foundation
import KilnModels

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the batching engine's throughput at several concurrency levels (no HTTP).")

    @Option(name: [.customShort("m"), .long], help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(help: "Comma-separated numbers of concurrent streams, e.g. 1,4,8,16.")
    var concurrency: String = "1,4,8,16"

    @Option(name: .customShort("p"), help: "Prompt tokens per stream.")
    var promptTokens: Int = 128

    @Option(name: .customShort("n"), help: "Tokens generated per stream.")
    var generateTokens: Int = 128

    @Option(name: .shortAndLong, help: "Compute threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() async throws {
        let levels = concurrency.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 1 && $0 <= 1024 }) else {
            throw ValidationError("--concurrency takes a comma-separated list of numbers between 1 and 1024")
        }
        let loaded = try reportingErrors { try LoadedModel.load(model, threads: threads) }
        let results = try await EngineBench.run(
            model: loaded, levels: levels, promptTokens: promptTokens, generateTokens: generateTokens,
            kvCacheBytes: 1 << 30)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            print(EngineBench.table(results))
        }
    }
}
