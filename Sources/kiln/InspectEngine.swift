import ArgumentParser
import Foundation
import KilnFormats
import KilnTensors

/// `kiln inspect` of an engine file.
enum InspectEngine {
    static func mib(_ bytes: Int) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }

    static func print(_ e: EngineFile) {
        let m = e.metadata
        Swift.print("Kiln engine, format version \(e.version), \(mib(e.file.count)), built by Kiln \(m.kilnVersion)")
        Swift.print("sections:")
        for s in e.sections {
            Swift.print("  \(s.name.padding(toLength: 28, withPad: " ", startingAt: 0)) @\(s.offset) \(mib(s.bytes)) hash \(Hash64.hex(s.checksum))")
        }
        Swift.print("source: \(m.source.kind) \(m.source.path) (\(mib(m.source.bytes)), hash \(m.source.checksum))")
        Swift.print("config: " + m.config.keys.sorted().map { "\($0)=\(m.config[$0]!)" }.joined(separator: " "))
        if let s = m.stage {
            Swift.print("stage: \(s.stage) of \(s.stages), layers \(s.firstLayer)..<\(s.endLayer) of \(s.layerCount) (kiln build --pp)")
        }
        if let s = m.shard {
            Swift.print(
                "shard: \(s.shard) of \(s.shards), kv heads \(s.firstKVHead)..<\(s.endKVHead), ffn rows \(s.firstFFN)..<\(s.endFFN)"
                    + (s.wholeAttentionOutput ? ", attention output whole" : "") + (s.wholeFFNDown ? ", ffn down whole" : "")
                    + " (kiln build --tp)")
        }
        let l = m.limits
        Swift.print(
            "limits: max-batch-size=\(l.maxBatchSize.map(String.init) ?? "-") max-input-tokens=\(l.maxInputTokens.map(String.init) ?? "-") max-total-tokens=\(l.maxTotalTokens.map(String.init) ?? "-") max-num-tokens=\(l.maxNumTokens.map(String.init) ?? "-") kv-cache-dtype=\(l.kvCacheDType ?? "auto")")
        let p = m.plan
        Swift.print(
            "plan: weights=\(p.weights)\(p.groupSize.map { " group-size=\($0)" } ?? "") fused=\(p.fused.count) packed-layout=\(p.packedLayout) required-cpu=[\(p.requiredCPUFeatures.joined(separator: ","))] optional-cpu=[\(p.optionalCPUFeatures.joined(separator: ","))]")
        for f in p.fused.prefix(2) {
            Swift.print("  fused \(f.name) = \(zip(f.parts, f.rows).map { "\($0.0)[\($0.1)]" }.joined(separator: " + "))")
        }
        if p.fused.count > 2 { Swift.print("  … \(p.fused.count - 2) more fused") }
        for note in p.notes ?? [] { Swift.print("  \(note)") }
        if let c = p.calibration {
            Swift.print(
                "  calibration: \(c.method) on \(c.text), \(c.tokens) tokens in chunks of \(c.context), text checksum "
                    + "\(c.checksum), damping \(c.damping)")
        }
        for f in p.folds ?? [] {
            Swift.print(
                "  folded \(f.kind) \(f.value) into \(f.tensors.count) tensors (\(f.tensors.prefix(3).joined(separator: ", "))\(f.tensors.count > 3 ? ", …" : ""))")
        }
        var byType: [String: (count: Int, bytes: Int)] = [:]
        var packedBytes = 0
        Swift.print("tensors (\(m.tensors.count)): name type shape bytes [packed bytes] source-type")
        for t in m.tensors {
            let type = DType(rawValue: t.type)?.description ?? "?\(t.type)"
            byType[type, default: (0, 0)].count += 1
            byType[type, default: (0, 0)].bytes += t.bytes
            packedBytes += t.packed?.bytes ?? 0
            Swift.print(
                "  \(t.name) \(type) \(t.shape) \(t.bytes)\(t.packed.map { " packed \($0.bytes)" } ?? "") from \(t.sourceType)")
        }
        Swift.print(
            "sizes: " + byType.keys.sorted().map { "\($0) \(byType[$0]!.count) tensors \(mib(byType[$0]!.bytes))" }
                .joined(separator: ", ") + ", packed copies \(mib(packedBytes))")
    }

    static func verify(_ e: EngineFile) throws {
        let problems = e.verify()
        if problems.isEmpty {
            Swift.print("verify: OK (\(e.sections.count) sections, \(e.metadata.tensors.count) tensors)")
            return
        }
        for p in problems { printError("verify: \(p)") }
        printError("error: \(e.path): \(problems.count) checksum mismatches: the file is corrupt (rebuild it with kiln build)")
        throw ExitCode(1)
    }
}
