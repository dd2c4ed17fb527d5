import Foundation
import KilnTensors

/// One format's goldens from `scripts/reference/make_quant_goldens.py`: raw blocks and the oracle's floats.
struct QuantGolden: Decodable {
    struct Case: Decodable {
        let source: String
        let oracle: String
        let count: Int
        let bytes: String
        let floats: String

        var rawBytes: [UInt8] { [UInt8](Data(base64Encoded: bytes)!) }

        var values: [Float] {
            let data = Data(base64Encoded: floats)!
            return data.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
            }
        }
    }

    let type: String
    let ggml_type: UInt32
    let block_elements: Int
    let block_bytes: Int
    let cases: [Case]

    static func load(_ type: DType) throws -> QuantGolden {
        let url = packageRoot().appendingPathComponent("Tests/goldens/quant/\(type).json")
        return try JSONDecoder().decode(QuantGolden.self, from: Data(contentsOf: url))
    }

    /// The package root: the first folder above this file that holds Package.swift.
    static func packageRoot(file: String = #filePath) -> URL {
        var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        fatalError("no Package.swift above \(file)")
    }
}
