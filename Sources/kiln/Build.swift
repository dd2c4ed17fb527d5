import ArgumentParser
import Foundation
import KilnBuild
import KilnFormats

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Compile a GGUF file or Hugging Face directory into an engine file (.kiln).",
        discussion: """
            The engine holds the weights in the kernels' layouts (fused QKV and gate/up, packed for AVX-512 VNNI) and
            everything needed to run the model; `kiln generate` and `kiln serve` map it without copying weights.
            --weights keep (default) keeps the source's formats, so outputs equal the source's; q8_0 and int8 store
            8-bit, q4_0 (symmetric) and int4 (asymmetric) 4-bit weights with embeddings and output at 8 bits.
            q4_0 searches each block's scale for the least squared error; q8_0, int8 and int4 round to nearest.
            q4_0 and int4 are calibrated: the source model first runs over a text (--calibration FILE, by default a
            built-in one of public-domain English) and the layers' 4-bit matrices are rounded by GPTQ, column by
            column with each rounding error fed forward onto the columns not yet rounded as the text's inputs to
            that matrix say it is best compensated (--calibration none: each group rounded on its own, much faster).
            --group-size 64 or 128 (int8, int4) quantizes with one scale (and offset) per 64 or 128 values and, since
            the kernels read 32-value blocks, repeats it in each 32-value block of the group: the file is as large as
            with group 32, the precision is that of the larger group.
            Where exact, constants are folded into the stored weights: a power-of-two attention scale into the query
            rows (or the query norm), Gemma's (1 + w) norm weights as 1 + w (--no-fold to keep them apart).
            """)

    @Option(name: [.customShort("m"), .long], help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(name: .shortAndLong, help: "The engine file to write (.kiln).")
    var output: String

    @Option(help: "Weight formats: keep, f32, bf16, q8_0, q4_0, int8, int4.")
    var weights: String = "keep"

    @Option(help: "Values per quantization group for int8 and int4: 32, 64 or 128 (stored in 32-value blocks).")
    var groupSize: Int = 32

    @Option(help: "Default --max-batch-size for kiln serve.")
    var maxBatchSize: Int?

    @Option(help: "Default --max-input-tokens for kiln serve.")
    var maxInputTokens: Int?

    @Option(help: "Default --max-total-tokens for kiln serve.")
    var maxTotalTokens: Int?

    @Option(help: "Default --max-batch-prefill-tokens (tokens per step) for kiln serve.")
    var maxNumTokens: Int?

    @Option(
        name: .customLong("kv-cache-dtype"),
        help: "KV cache format kiln serve/generate use by default: f32, f16, bf16 or auto (f16 on the fast path).")
    var kvCacheDType: String?

    @Option(
        help: ArgumentHelp(
            "Text whose activations calibrate 4-bit rounding (q4_0, int4): a UTF-8 file, or none.",
            discussion: "Default: the built-in text.", valueName: "file|none"))
    var calibration: String?

    @Flag(help: "Store Q, K, V and gate, up as separate matrices.")
    var noFuse = false

    @Flag(help: "Keep the attention scale and norm offsets out of the stored weights.")
    var noFold = false

    @Option(
        name: .customLong("pp"),
        help: """
            Pipeline stages: write one file per rank, OUT.rank0-of-M.kiln …, each holding only its stage's layers \
            (serve with mpirun -np M kiln serve --pipeline-parallel M --model OUT.rank0-of-M.kiln; each rank maps its own).
            """)
    var pipelineStages: Int = 1

    @Option(
        name: .customLong("tp"),
        help: """
            Tensor-parallel ranks (per stage with --pp M): write one file per rank, OUT.rank0-of-R.kiln … for R = N×M \
            ranks (rank = stage × N + shard), each holding only its slice of its stage's layers: its heads' Q, K, V rows \
            and its FFN rows of gate and up, the matching columns of the attention output and down (serve with \
            mpirun -np R kiln serve --tensor-parallel N [--pipeline-parallel M] --model OUT.rank0-of-R.kiln).
            """)
    var tensorParallel: Int = 1

    @Option(name: .shortAndLong, help: "Threads for quantizing and packing.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard WeightsOption(rawValue: weights) != nil else {
            throw ValidationError("--weights must be one of \(WeightsOption.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try KVCacheOption.parse(kvCacheDType)
        if let calibration, calibration != "none" {
            guard weights == WeightsOption.q4_0.rawValue || weights == WeightsOption.int4.rawValue else {
                throw ValidationError("--calibration applies to --weights q4_0 and int4 only")
            }
            guard FileManager.default.isReadableFile(atPath: calibration) else {
                throw ValidationError("--calibration \(calibration): cannot read the file")
            }
        }
        for (name, v) in [
            ("--max-batch-size", maxBatchSize), ("--max-input-tokens", maxInputTokens),
            ("--max-total-tokens", maxTotalTokens), ("--max-num-tokens", maxNumTokens),
        ] {
            if let v, v < 1 { throw ValidationError("\(name) must be ≥ 1") }
        }
        guard pipelineStages >= 1 else { throw ValidationError("--pp must be ≥ 1") }
        guard tensorParallel >= 1 else { throw ValidationError("--tp must be ≥ 1") }
    }

    /// The calibration text: the file given, none, or the built-in text where calibration is the default.
    func calibrationText() throws -> CalibrationText? {
        switch calibration {
        case "none": return nil
        case nil: return .builtIn
        case let path?:
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else { throw ValidationError("--calibration \(path): cannot read it as UTF-8 text") }
            return CalibrationText(name: (path as NSString).lastPathComponent, text: text)
        }
    }

    var options: BuildOptions {
        var options = BuildOptions(
            weights: WeightsOption(rawValue: weights) ?? .keep, groupSize: groupSize,
            limits: EngineLimits(
                maxBatchSize: maxBatchSize, maxInputTokens: maxInputTokens, maxTotalTokens: maxTotalTokens,
                maxNumTokens: maxNumTokens, kvCacheDType: (try? KVCacheOption.parse(kvCacheDType))?.rawValue),
            fuse: !noFuse, fold: !noFold)
        options.pipelineStages = pipelineStages
        options.tensorParallel = tensorParallel
        return options
    }

    func run() throws {
        let start = ContinuousClock.now
        let display = ProgressDisplay()
        var options = options
        options.calibration = try calibrationText()
        let reports = try reportingErrors {
            try EngineBuilder.buildAll(source: model, output: output, options: options, threads: threads) {
                display.show($0)
            }
        }
        display.finish()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        for report in reports {
            let fused = report.metadata.plan.fused.count
            let stage = report.metadata.rankDescription.map { " (\($0))" }
            printError(
                String(
                    format: "built %@%@: %.1f MiB, %d tensors (%d fused), weights %@, in %.2f s", report.output, stage ?? "",
                    Double(report.bytes) / 1_048_576, report.metadata.tensors.count, fused, weights, seconds))
        }
    }
}

/// A progress bar on a terminal, a log line per tenth otherwise.
final class ProgressDisplay {
    let terminal = isatty(2) != 0
    var lastTenth = -1

    func show(_ p: EngineBuilder.Progress) {
        let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 1
        if terminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let line = String(format: "\r[%@] %3d%% %@", bar, Int(fraction * 100), p.tensor)
            FileHandle.standardError.write(Data((line.padding(toLength: 80, withPad: " ", startingAt: 0)).utf8))
        } else {
            let tenth = Int(fraction * 10)
            if tenth > lastTenth {
                lastTenth = tenth
                printError("build: \(tenth * 10)% (\(p.done / 1_048_576) of \(p.total / 1_048_576) MiB) \(p.tensor)")
            }
        }
    }

    func finish() { if terminal { FileHandle.standardError.write(Data("\n".utf8)) } }
}
