import Foundation
import KilnFormats
import KilnTensors
import Testing

/// Writes a safetensors file from a header dictionary and raw data.
func writeSafetensors(_ header: [String: Any], data: [UInt8], to path: String) throws {
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Data($0) }
    out.append(json)
    out.append(contentsOf: data)
    try out.write(to: URL(fileURLWithPath: path))
}

@Suite struct SafetensorsTests {
    let floats: [UInt8] = (0..<6).flatMap { i in withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { Array($0) } }

    @Test func readsTensorsAndMetadata() throws {
        let path = temporaryPath("ok.safetensors")
        try writeSafetensors(
            [
                "__metadata__": ["format": "pt"],
                "a": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]],
                "b": ["dtype": "BF16", "shape": [4], "data_offsets": [16, 24]],
            ], data: floats, to: path)
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata["format"] == "pt")
        let a = try #require(f.tensors["a"])
        #expect(a.type == .f32)
        #expect(a.shape == [2, 2])
        #expect(f.data(of: a).loadUnaligned(fromByteOffset: 12, as: Float.self) == 3)
        #expect(f.tensors["b"]?.type == .bf16)
    }

    @Test func rejectsOffsetsThatLie() throws {
        let path = temporaryPath("lie.safetensors")
        try writeSafetensors(["a": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 4000]]], data: floats, to: path)
        let error = try #require(throws: FormatError.self) { _ = try SafetensorsFile(path: path) }
        #expect(error.description.contains("'a' data_offsets [0, 4000] lie outside"))
        #expect(error.path == path)

        try writeSafetensors(["a": ["dtype": "F32", "shape": [3, 2], "data_offsets": [0, 16]]], data: floats, to: path)
        let mismatch = try #require(throws: FormatError.self) { _ = try SafetensorsFile(path: path) }
        #expect(mismatch.description.contains("needs 24"))
    }

    @Test func rejectsBadHeadersAndTypes() throws {
        let path = temporaryPath("bad.safetensors")
        try Data([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 2]).write(to: URL(fileURLWithPath: path))
        #expect(throws: FormatError.self) { _ = try SafetensorsFile(path: path) }
        try writeSafetensors(["a": ["dtype": "I64", "shape": [1], "data_offsets": [0, 8]]], data: floats, to: path)
        let error = try #require(throws: FormatError.self) { _ = try SafetensorsFile(path: path) }
        #expect(error.description.contains("unsupported dtype I64"))
    }

    @Test func readsShardedDirectories() throws {
        let dir = temporaryPath("sharded")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"model_type": "llama"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        try writeSafetensors(["a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]]], data: floats, to: dir + "/m-1.safetensors")
        try writeSafetensors(["b": ["dtype": "F32", "shape": [3], "data_offsets": [0, 12]]], data: floats, to: dir + "/m-2.safetensors")
        let index = ["weight_map": ["a": "m-1.safetensors", "b": "m-2.safetensors"]]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let hf = try HFCheckpoint(directory: dir)
        #expect(hf.tensorNames == ["a", "b"])
        #expect(hf.tensorInfo("b")?.info.shape == [3])
        #expect(hf.config["model_type"] as? String == "llama")
    }
}
