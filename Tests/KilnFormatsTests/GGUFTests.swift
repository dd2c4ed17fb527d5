import Foundation
import KilnFormats
import KilnTensors
import Testing

@Suite struct GGUFReaderTests {
    func sample() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.metadata = [
            ("general.architecture", .string("llama")),
            ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(65000)), ("i16", .int16(-300)),
            ("u32", .uint32(4_000_000_000)), ("i32", .int32(-7)), ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))),
            ("f32", .float32(0.5)), ("f64", .float64(-2.25)), ("flag", .bool(true)),
            ("unicode", .string("héllo ✓ 漢字")),
            ("nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
            ("names", .array([.string("a"), .string("bc")])),
        ]
        let floats: [Float] = (0..<64).map { Float($0) / 8 }
        let data = floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        b.tensors = [("w", [32, 2], DType.f32.rawValue, data), ("v", [16], DType.f32.rawValue, Array(data[0..<64]))]
        return b
    }

    @Test func readsEveryValueTypeAndTensorInfo() throws {
        let path = temporaryPath("sample.gguf")
        try sample().write(to: path)
        let g = try GGUFFile(path: path)
        #expect(g.version == 3)
        #expect(g["u8"] == .uint8(200))
        #expect(g["i8"] == .int8(-5))
        #expect(g["u16"] == .uint16(65000))
        #expect(g["i16"] == .int16(-300))
        #expect(g["u32"]?.int == 4_000_000_000)
        #expect(g["i32"] == .int32(-7))
        #expect(g["u64"]?.int == 1 << 40)
        #expect(g["i64"]?.int == -(1 << 40))
        #expect(g["f32"]?.double == 0.5)
        #expect(g["f64"]?.double == -2.25)
        #expect(g["flag"]?.bool == true)
        #expect(g["unicode"]?.string == "héllo ✓ 漢字")
        #expect(g["nested"] == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        #expect(g["names"]?.strings == ["a", "bc"])
        #expect(g.metadataKeys.first == "general.architecture")
        let w = try #require(g.tensorInfo("w"))
        #expect(w.dimensions == [32, 2])
        #expect(w.byteCount == 256)
        #expect(w.offset % 32 == 0)
        let first = g.data(of: w).loadUnaligned(fromByteOffset: 4 * 9, as: Float.self)
        #expect(first == 9.0 / 8)
        let v = try #require(g.tensorInfo("v"))
        #expect(v.offset == w.offset + 256)
    }

    @Test func readsVersion2AndCustomAlignment() throws {
        var b = sample()
        b.version = 2
        b.alignment = 64
        b.metadata.append(("general.alignment", .uint32(64)))
        let path = temporaryPath("v2.gguf")
        try b.write(to: path)
        let g = try GGUFFile(path: path)
        #expect(g.version == 2)
        #expect(g.alignment == 64)
        #expect(try #require(g.tensorInfo("v")).offset % 64 == 0)
    }

    func expectError(_ bytes: [UInt8], _ name: String, containing text: String) throws {
        let path = temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try GGUFFile(path: path)
            Issue.record("expected an error containing '\(text)' for \(name)")
        } catch let error as FormatError {
            #expect(error.path == path)
            #expect(error.description.contains(text), "\(error.description)")
        }
    }

    @Test func rejectsWrongMagic() throws {
        var b = sample()
        b.magic = Array("GGML".utf8)
        try expectError(b.bytes(), "magic.gguf", containing: "bad magic \"GGML\"")
    }

    @Test func rejectsUnsupportedVersion() throws {
        var b = sample()
        b.version = 1
        try expectError(b.bytes(), "v1.gguf", containing: "version 1 is not supported")
        b.version = 9
        try expectError(b.bytes(), "v9.gguf", containing: "unsupported GGUF version 9")
    }

    @Test func rejectsUnknownTensorType() throws {
        var b = sample()
        b.tensors[1].2 = 99
        try expectError(b.bytes(), "type.gguf", containing: "unknown or unsupported tensor type 99")
    }

    @Test func rejectsEveryTruncation() throws {
        let bytes = sample().bytes()
        // Every prefix must fail cleanly: inside the header, the metadata, the tensor infos and the data.
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            let path = temporaryPath("cut.gguf")
            try Data(bytes[0..<cut]).write(to: URL(fileURLWithPath: path))
            #expect(throws: FormatError.self) { _ = try GGUFFile(path: path) }
        }
        try expectError(Array(bytes.dropLast(10)), "short.gguf", containing: "truncated")
    }

    @Test func rejectsLyingCountsWithoutHugeAllocations() throws {
        var bytes = sample().bytes()
        // metadata count := 2^60
        bytes.replaceSubrange(16..<24, with: withUnsafeBytes(of: UInt64(1 << 60).littleEndian) { Array($0) })
        try expectError(bytes, "count.gguf", containing: "claims")
        var b = sample()
        b.metadata.append(("bad.string", .string("x")))
        var raw = b.bytes()
        // Make the last metadata string's length absurd.
        let key = Array("bad.string".utf8)
        if let at = raw.indices.first(where: { raw[$0..<min($0 + key.count, raw.count)].elementsEqual(key) }) {
            let lengthOffset = at + key.count + 4
            raw.replaceSubrange(lengthOffset..<lengthOffset + 8, with: withUnsafeBytes(of: UInt64.max.littleEndian) { Array($0) })
        }
        try expectError(raw, "string.gguf", containing: "claims")
    }

    @Test func rejectsMissingFile() throws {
        #expect(throws: FormatError.self) { _ = try GGUFFile(path: "/nonexistent/model.gguf") }
    }

    @Test func readsTheRealSmolLM2File() throws {
        let path = packageRoot() + "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            #expect(ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] == nil, "missing \(path)")
            return
        }
        let g = try GGUFFile(path: path)
        #expect(g.architecture == "llama")
        #expect(g["llama.block_count"]?.int == 30)
        #expect(g["tokenizer.ggml.tokens"]?.array?.count == 49152)
        #expect(g.tensors.count == 272)
        #expect(g.tensorInfo("token_embd.weight")?.type == .q8_0)
        #expect(g.tensorInfo("blk.0.attn_q.weight")?.type == .q4_1)
        #expect(g.tensorInfo("blk.0.attn_q.weight")?.dimensions == [576, 576])
    }
}
