import ArgumentParser
import Foundation
import KilnModels
import KilnSampling
import KilnTokenizers

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt.",
        discussion: """
            Prints only the generated text to stdout, as tokens arrive. Prompt and generation speed go to stderr.
            Special-token strings in the prompt (such as <|im_start|>) are read as special tokens.
            """)

    @Option(name: [.customShort("m"), .long, .customLong("model-id")], help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(name: .shortAndLong, help: "The prompt text.")
    var prompt: String

    @Option(name: [.customShort("n"), .long], help: "Most tokens to generate.")
    var maxNewTokens: Int = 128

    @Option(help: "Sampling temperature; 0 means greedy.")
    var temperature: Float = 0

    @Option(help: "Keep only the K most likely tokens.")
    var topK: Int?

    @Option(help: "Keep the smallest set of tokens whose probability reaches P.")
    var topP: Float?

    @Option(help: "Seed of the sampler's random generator.")
    var seed: UInt64 = 0

    @Flag(help: "Keep generating past end-of-sequence tokens.")
    var ignoreEOS = false

    @Option(help: "Constrain the output to JSON valid against the JSON Schema in this file.")
    var jsonSchema: String?

    @Option(help: "Constrain the output to match this regular expression in full.")
    var regex: String?

    @Option(help: "Constrain the output to the GBNF grammar (llama.cpp notation, start rule `root`) in this file.")
    var grammar: String?

    @Flag(help: "Constrain the output to one JSON value.")
    var json = false

    @Option(name: .shortAndLong, help: "Compute threads (default: the machine's cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("kv-cache-dtype"), help: ArgumentHelp(stringLiteral: KVCacheOption.help))
    var kvCacheDType: String?

    func validate() throws {
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be ≥ 0") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        _ = try KVCacheOption.parse(kvCacheDType)
        let constraints = [jsonSchema != nil, regex != nil, grammar != nil, json].filter { $0 }.count
        guard constraints <= 1 else {
            throw ValidationError("give at most one of --json-schema, --regex, --grammar, --json")
        }
        guard constraints == 0 || !ignoreEOS else {
            throw ValidationError("--ignore-eos cannot be used with a constraint")
        }
        do {
            _ = try samplingParameters()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Temperature 0 means greedy here (top-k and top-p then have nothing to do); top-p 1 means no top-p.
    func samplingParameters() throws(SamplingError) -> SamplingParameters {
        guard temperature >= 0 else { throw .temperature }
        let request =
            temperature == 0
            ? SamplingRequest(seed: seed, ignoreEOS: ignoreEOS, maxNewTokens: max(1, maxNewTokens))
            : SamplingRequest(
                doSample: true, temperature: temperature, topK: topK, topP: topP == 1 ? nil : topP, seed: seed,
                ignoreEOS: ignoreEOS, maxNewTokens: max(1, maxNewTokens))
        return try request.validate()
    }

    func run() throws {
        let path = EngineCache.resolve(model) { printError($0) }
        let loaded = try reportingErrors { try LoadedModel.load(path, threads: threads) }
        let transformer = loaded.transformer
        let tokenizer = loaded.tokenizer
        let promptIDs = tokenizer.encode(prompt, addSpecialTokens: true, parseSpecial: true)
        guard !promptIDs.isEmpty else {
            printError("error: the prompt encodes to no tokens; give a non-empty --prompt")
            throw ExitCode(1)
        }
        let limit = transformer.config.contextLength
        guard promptIDs.count + maxNewTokens <= limit else {
            printError(
                "error: the prompt (\(promptIDs.count) tokens) plus --max-new-tokens \(maxNewTokens) exceeds the model's context of \(limit) tokens"
            )
            throw ExitCode(1)
        }
        let cache = transformer.makeCache(
            capacity: promptIDs.count + maxNewTokens, dtype: try KVCacheOption.parse(kvCacheDType))
        var sampler = try reportingErrors { Sampler(parameters: try samplingParameters(), promptTokens: promptIDs) }
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        let stdout = FileHandle.standardOutput
        let stops = loaded.stopTokenIDs
        var matcher = try constraintSpec().map { spec in
            let compiler = ConstraintCompiler(
                vocabulary: TokenVocabulary(tokenizer: tokenizer, endOfSequence: stops.sorted()))
            return try reportingErrors { try compiler.compile(spec) }.makeMatcher()
        }

        let promptStart = DispatchTime.now()
        var logits = try reportingErrors { try transformer.forward(promptIDs, cache: cache) }
        let promptSeconds = seconds(since: promptStart)
        let generationStart = DispatchTime.now()
        var generated = 0
        while generated < maxNewTokens {
            let mask = matcher?.allowedTokens()
            let next = try reportingErrors {
                try logits.withUnsafeBufferPointer { try sampler.sample(logits: $0, mask: mask) }.id
            }
            if !ignoreEOS && stops.contains(next) { break }
            matcher?.accept(next)
            generated += 1
            let text = detokenizer.next(next)
            if !text.isEmpty { stdout.write(Data(text.utf8)) }
            if generated == maxNewTokens { break }
            logits = try reportingErrors { try transformer.forward([next], cache: cache) }
        }
        let tail = detokenizer.finish()
        if !tail.isEmpty { stdout.write(Data(tail.utf8)) }
        stdout.write(Data("\n".utf8))
        let generationSeconds = seconds(since: generationStart)
        printError(
            String(
                format: "prompt: %d tokens in %.2f s (%.1f tokens/s); generation: %d tokens in %.2f s (%.1f tokens/s); %d threads",
                promptIDs.count, promptSeconds, Double(promptIDs.count) / max(promptSeconds, 1e-9), generated,
                generationSeconds, Double(generated) / max(generationSeconds, 1e-9), threads))
    }
}

extension Generate {
    /// The constraint the options ask for, reading files as needed.
    func constraintSpec() throws -> ConstraintSpec? {
        func read(_ path: String) throws -> String {
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                printError("error: cannot read \(path): \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        if let jsonSchema { return .jsonSchema(try read(jsonSchema)) }
        if let grammar { return .grammar(try read(grammar)) }
        if let regex { return .regex(regex) }
        return json ? .anyJSON : nil
    }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
