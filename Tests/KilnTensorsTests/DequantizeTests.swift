import KilnTensors
import Testing

@Suite("Dequantize.row against gguf-py goldens")
struct DequantizeTests {
    @Test("bit-exact against the oracle", arguments: DType.allCases)
    func matchesOracle(_ type: DType) throws {
        let golden = try QuantGolden.load(type)
        #expect(golden.ggml_type == type.rawValue)
        #expect(golden.block_elements == type.blockElements)
        #expect(golden.block_bytes == type.blockBytes)
        #expect(!golden.cases.isEmpty)
        for c in golden.cases {
            let raw = c.rawBytes
            let expected = c.values
            #expect(type.byteCount(elements: c.count) == raw.count, "\(c.source)")
            // Copy one byte past an aligned start so every multi-byte field is read unaligned.
            var shifted = [UInt8](repeating: 0, count: raw.count + 1)
            shifted.replaceSubrange(1..., with: raw)
            var got = [Float](repeating: .nan, count: c.count)
            shifted.withUnsafeBytes { src in
                got.withUnsafeMutableBufferPointer { dst in
                    Dequantize.row(type, from: src.baseAddress! + 1, into: dst.baseAddress!, count: c.count)
                }
            }
            let mismatches = (0..<c.count).filter { got[$0].bitPattern != expected[$0].bitPattern }
            #expect(
                mismatches.isEmpty,
                "\(type) \(c.source): \(mismatches.count) values differ, first at \(mismatches.first.map { "\($0): \(got[$0]) vs \(expected[$0])" } ?? "")"
            )
        }
    }

    @Test("golden cases cover real model rows for the formats the models use")
    func realModelRowsPresent() throws {
        for type in [DType.q4_1, .q5_0, .q8_0, .q4_K, .q6_K] {
            let golden = try QuantGolden.load(type)
            #expect(golden.cases.contains { $0.source.hasPrefix("model:") }, "\(type)")
        }
    }
}

@Suite("Block layouts")
struct BlockLayoutTests {
    @Test("fields tile each block exactly", arguments: DType.allCases)
    func fieldsTileBlock(_ type: DType) {
        let fields = BlockLayout.fields(of: type)
        var next = 0
        for field in fields {
            #expect(field.offset == next, "\(type) \(field)")
            #expect(field.size > 0)
            next = field.offset + field.size
        }
        #expect(next == type.blockBytes, "\(type): fields end at \(next), block is \(type.blockBytes) bytes")
    }

    @Test("named offsets agree with the field tables")
    func offsetsAgree() {
        func offset(_ type: DType, _ name: String) -> Int? {
            BlockLayout.fields(of: type).first { $0.name == name }?.offset
        }
        #expect(offset(.q4_0, "qs") == BlockQ4_0.qs)
        #expect(offset(.q4_1, "m") == BlockQ4_1.m && offset(.q4_1, "qs") == BlockQ4_1.qs)
        #expect(offset(.q5_0, "qh") == BlockQ5_0.qh && offset(.q5_0, "qs") == BlockQ5_0.qs)
        #expect(offset(.q5_1, "qh") == BlockQ5_1.qh && offset(.q5_1, "qs") == BlockQ5_1.qs)
        #expect(offset(.q8_0, "qs") == BlockQ8_0.qs)
        #expect(offset(.q8_1, "qs") == BlockQ8_1.qs)
        #expect(offset(.q2_K, "qs") == BlockQ2_K.qs && offset(.q2_K, "d") == BlockQ2_K.d)
        #expect(offset(.q2_K, "dmin") == BlockQ2_K.dmin)
        #expect(offset(.q3_K, "qs") == BlockQ3_K.qs && offset(.q3_K, "scales") == BlockQ3_K.scales)
        #expect(offset(.q3_K, "d") == BlockQ3_K.d)
        #expect(offset(.q4_K, "scales") == BlockQ4_K.scales && offset(.q4_K, "qs") == BlockQ4_K.qs)
        #expect(offset(.q5_K, "qh") == BlockQ5_K.qh && offset(.q5_K, "qs") == BlockQ5_K.qs)
        #expect(offset(.q6_K, "qh") == BlockQ6_K.qh && offset(.q6_K, "scales") == BlockQ6_K.scales)
        #expect(offset(.q6_K, "d") == BlockQ6_K.d)
        #expect(offset(.q8_K, "qs") == BlockQ8_K.qs && offset(.q8_K, "bsums") == BlockQ8_K.bsums)
    }
}

@Suite("Half-precision conversions")
struct HalfFloatTests {
    @Test("fp16 round trip over every finite bit pattern")
    func halfRoundTrip() {
        for bits in 0...UInt16.max {
            let f = Half.toFloat(bits)
            if f.isNaN { continue }
            #expect(Half.fromFloat(f) == bits)
        }
        #expect(Half.toFloat(0x3c00) == 1)
        #expect(Half.toFloat(0xc000) == -2)
        #expect(Half.toFloat(0x0001) == Float(sign: .plus, exponent: -24, significand: 1))
    }

    @Test("bf16 is the upper half of a float and rounds to nearest even")
    func bf16() {
        #expect(BFloat16.toFloat(0x3f80) == 1)
        #expect(BFloat16.toFloat(0xc040) == -3)
        #expect(BFloat16.fromFloat(1) == 0x3f80)
        #expect(BFloat16.fromFloat(Float(bitPattern: 0x3f80_8000)) == 0x3f80)  // tie, even stays
        #expect(BFloat16.fromFloat(Float(bitPattern: 0x3f81_8000)) == 0x3f82)  // tie, odd rounds up
        #expect(BFloat16.fromFloat(Float(bitPattern: 0x3f80_8001)) == 0x3f81)
        #expect(BFloat16.toFloat(BFloat16.fromFloat(.nan)).isNaN)
    }
}
