import Foundation
import KilnBuild
import KilnFormats
import KilnModels
import Testing

/// Damaged engine files and failing builds: each a clear error naming the problem, never a crash, and never a
/// half-written engine left where a loader would find it.
@Suite(.serialized) struct BadEngineTests {
    /// A small engine built once from SmolLM2 (keep), as bytes to damage.
    static let engineBytes: Data? = {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            let dir = try? TemporaryDirectory()
        else { return nil }
        defer { dir.remove() }
        let output = dir.path + "/model.kiln"
        guard (try? EngineBuilder.build(source: source, output: output, options: BuildOptions(), threads: 2)) != nil
        else { return nil }
        return FileManager.default.contents(atPath: output)
    }()

    /// Writes `bytes` to a temporary engine path and returns the error from opening it (nil: it opened).
    func openError(_ bytes: Data) throws -> String? {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/damaged.kiln"
        try bytes.write(to: URL(fileURLWithPath: path))
        do {
            _ = try EngineFile(path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    func patched(_ data: Data, at offset: Int, _ bytes: [UInt8]) -> Data {
        var d = data
        for (i, b) in bytes.enumerated() { d[d.startIndex + offset + i] = b }
        return d
    }

    @Test func truncatedFile() throws {
        guard let bytes = Self.engineBytes else { return }
        for length in [0, 10, 100, bytes.count / 2, bytes.count - 1] {
            let error = try #require(try openError(bytes.prefix(length)), "a \(length)-byte prefix opened")
            #expect(error.contains("truncated") || error.contains("not a complete engine file"), "\(length): \(error)")
        }
    }

    @Test func wrongMagic() throws {
        guard let bytes = Self.engineBytes else { return }
        let error = try #require(try openError(patched(bytes, at: 0, Array("GGUF\u{3}\0\0\0".utf8))))
        #expect(error.contains("not a Kiln engine file") && error.contains("it is a GGUF file"), "\(error)")
        let other = try #require(try openError(patched(bytes, at: 0, Array("\u{1}2345678".utf8))))
        #expect(other.contains("not a Kiln engine file: bad magic"), "\(other)")
    }

    @Test func newerFormatVersion() throws {
        guard let bytes = Self.engineBytes else { return }
        let error = try #require(try openError(patched(bytes, at: 8, [UInt8(EngineFile.formatVersion + 1), 0, 0, 0])))
        #expect(error.contains("format version \(EngineFile.formatVersion + 1) is newer"), "\(error)")
    }

    @Test func corruptHeaderAndMetadata() throws {
        guard let bytes = Self.engineBytes else { return }
        // A section offset in the table (first entry's offset field).
        let header = try #require(try openError(patched(bytes, at: EngineFile.headerBytes + 33, [0x7f])))
        #expect(header.contains("corrupt"), "\(header)")
        let meta = try #require(try opened(bytes) { $0.sections.first { $0.name == "metadata" } })
        let original = bytes[bytes.startIndex + meta.offset + 10]
        let metaError = try #require(try openError(patched(bytes, at: meta.offset + 10, [original ^ 0x20])))
        #expect(metaError.contains("metadata section's checksum"), "\(metaError)")
    }

    /// A flipped bit in tensor data does not stop loading (nothing is hashed at load), but --verify names it.
    @Test func flippedTensorByteCaughtByVerify() throws {
        guard let bytes = Self.engineBytes else { return }
        let (problemsBefore, sections, tensorTable) = try opened(bytes) { ($0.verify(), $0.sections, $0.metadata.tensors) }
        #expect(problemsBefore.isEmpty)
        let tensors = try #require(sections.first { $0.name == "tensors" })
        let target = try #require(tensorTable.first { $0.name == "blk.7.attn_output.weight" })
        let offset = tensors.offset + target.offset + target.bytes / 3
        let damaged = patched(bytes, at: offset, [bytes[bytes.startIndex + offset] ^ 0x04])
        let problems = try opened(damaged) { $0.verify() }
        #expect(problems.contains { $0.contains("section 'tensors'") }, "\(problems)")
        #expect(problems.contains { $0.contains("'blk.7.attn_output.weight'") }, "\(problems)")
        #expect(problems.count == 2, "\(problems)")
    }

    /// An engine whose plan requires a CPU feature this machine lacks: rewritten through the writer API with one
    /// more required feature (every section and tensor as they were), it still opens (its bytes are sound) but
    /// loading it is refused with the missing feature named, and the features this CPU has are not blamed.
    @Test func missingCPUFeatureRefused() throws {
        guard let bytes = Self.engineBytes else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let original = dir.path + "/original.kiln"
        try bytes.write(to: URL(fileURLWithPath: original))
        let engine = try EngineFile(path: original)
        let missing = "avx1024-imaginary"
        #expect(!ModelLoader.cpuFeatures.contains(missing))
        let present = ModelLoader.cpuFeatures.sorted()
        var metadata = engine.metadata
        metadata.plan.requiredCPUFeatures = present + [missing]
        let output = dir.path + "/needs-more.kiln"
        let writer = try EngineFileWriter(
            path: output,
            sourceSections: engine.sections.filter { $0.name != "tensors" && $0.name != "metadata" }.map {
                ($0.name, engine.sectionData($0.name)!)
            })
        // The tensors section as one block: every tensor keeps its offset within it.
        let (offset, _) = try writer.appendTensor(try #require(engine.section("tensors")))
        #expect(offset == 0)
        try writer.finish(metadata: metadata)

        let rewritten = try EngineFile(path: output)
        #expect(rewritten.verify().isEmpty)
        #expect(rewritten.metadata.plan.requiredCPUFeatures.contains(missing))
        do {
            _ = try LoadedModel.load(output, threads: 1)
            Issue.record("an engine needing \(missing) loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("needs CPU features this machine lacks (\(missing))"), "\(message)")
            #expect(message.contains("rebuild it here with kiln build"), "\(message)")
        }
        // The same file without the extra feature loads: the refusal is the feature's alone.
        metadata.plan.requiredCPUFeatures = present
        let control = dir.path + "/control.kiln"
        let writer2 = try EngineFileWriter(
            path: control,
            sourceSections: engine.sections.filter { $0.name != "tensors" && $0.name != "metadata" }.map {
                ($0.name, engine.sectionData($0.name)!)
            })
        _ = try writer2.appendTensor(try #require(engine.section("tensors")))
        try writer2.finish(metadata: metadata)
        _ = try LoadedModel.load(control, threads: 1)
    }

    /// Opens `data` as an engine file from a temporary path (removed afterwards).
    func opened<T>(_ data: Data, _ body: (EngineFile) throws -> T) throws -> T {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/engine.kiln"
        try data.write(to: URL(fileURLWithPath: path))
        return try body(EngineFile(path: path))
    }

    /// Runs `body` with a directory that cannot be written (root ignores permissions: then a read-only tmpfs), or
    /// returns false when neither can be arranged.
    func withReadOnlyDirectory(_ body: (String) throws -> Void) throws -> Bool {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        if getuid() != 0 {
            chmod(dir.path, 0o555)
            defer { chmod(dir.path, 0o755) }
            try body(dir.path)
            return true
        }
        guard mount(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir.path]) else { return false }
        defer { _ = mount(["-l", dir.path], command: "/bin/umount") }
        try body(dir.path)
        return true
    }

    func mount(_ arguments: [String], command: String = "/bin/mount") -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: command)
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    @Test func readOnlyOutputFolder() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let arranged = try withReadOnlyDirectory { dir in
            do {
                _ = try EngineBuilder.build(source: source, output: dir + "/model.kiln", options: BuildOptions())
                Issue.record("a build into a read-only folder succeeded")
            } catch {
                #expect("\(error)".contains("cannot create the engine file"), "\(error)")
            }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).isEmpty)
        }
        if !arranged { print("readOnlyOutputFolder: skipped (cannot make a read-only folder here)") }
    }

    /// A disk that fills up mid-build: a 1 MiB tmpfs (root only; skipped elsewhere).
    @Test func fullDisk() throws {
        guard let source = modelPath("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        guard getuid() == 0, mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir.path]) else {
            print("fullDisk: skipped (needs root to mount a small tmpfs)")
            return
        }
        defer { _ = mount(["-l", dir.path], command: "/bin/umount") }
        do {
            _ = try EngineBuilder.build(source: source, output: dir.path + "/model.kiln", options: BuildOptions())
            Issue.record("a build onto a full disk succeeded")
        } catch {
            #expect("\(error)".contains("no space left on device"), "\(error)")
        }
        #expect(dir.contents.isEmpty, "left behind: \(dir.contents)")
    }
}
