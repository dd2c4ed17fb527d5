// Small SIMD16 building blocks shared by the kernels.
//
// Conversions are written as 16-iteration lane loops in @inline(__always) helpers: LLVM turns each into one
// instruction (vpmovzxbd, vcvtdq2ps, vcvtph2ps, ...), whereas the stdlib SIMD conversion initialisers stay
// out-of-line calls that cost 2-6x (see shared/reference/cpu-kernels.md).

@inline(__always)
func loadBytes16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
}

@inline(__always)
func loadFloats16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func storeFloats16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

@inline(__always)
func floats(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

@inline(__always)
func floats(_ v: SIMD16<Int8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

@inline(__always)
func floats(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

@inline(__always)
func int32s(_ v: SIMD16<UInt8>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func int32s(_ v: SIMD16<Float>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func halfFloats(_ p: UnsafeRawPointer) -> SIMD16<Float> {
    let bits = p.loadUnaligned(as: SIMD16<UInt16>.self)
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(Float16(bitPattern: bits[i])) }
    return r
}

@inline(__always)
func bfloatFloats(_ p: UnsafeRawPointer) -> SIMD16<Float> {
    let bits = p.loadUnaligned(as: SIMD16<UInt16>.self)
    var r = SIMD16<UInt32>()
    for i in 0..<16 { r[i] = UInt32(bits[i]) }
    return unsafeBitCast(r &<< 16, to: SIMD16<Float>.self)
}

/// Int8 lanes reinterpreted from 16 bytes.
@inline(__always)
func signedBytes16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<Int8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
}

/// Lane i holds i (0...15).
@inline(__always)
func laneIndices() -> SIMD16<Int32> {
    SIMD16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}

/// Bit (first + i) of `bits`, times 16, in lane i: the fifth bit of Q5_0/Q5_1 quants.
@inline(__always)
func fifthBits(_ bits: UInt32, first: Int32) -> SIMD16<Int32> {
    let shifts = unsafeBitCast(laneIndices() &+ first, to: SIMD16<UInt32>.self)
    let shifted = SIMD16<UInt32>(repeating: bits) &>> shifts
    return unsafeBitCast((shifted & 1) &<< 4, to: SIMD16<Int32>.self)
}

/// Sum of the lanes, by halving (`.sum()` is sometimes an out-of-line call).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}
