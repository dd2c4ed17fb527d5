/// exp over 16 lanes, for the vocabulary-wide sums of every sampling step (the log-partition behind each logprob):
/// a scalar `expf` per token costs about 1 ms per step on a 150 000-token vocabulary.
///
/// Cody–Waite range reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2 (Cephes' split of ln 2), a degree-6 Taylor
/// polynomial for e^r (relative error about 1e-7), and 2^n built in the exponent bits. Lanes below −87.3
/// (−inf included) give 0.
@inline(__always) func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let clamped = pointwiseMax(pointwiseMin(x, SIMD16(repeating: 88.3)), SIMD16(repeating: -87.3))
    let magic = SIMD16<Float>(repeating: 12_582_912)  // 1.5·2^23: adding it rounds to an integer in the low bits
    let t = clamped * SIMD16(repeating: 1.442_695_04) + magic
    let n = t - magic
    var r = clamped.addingProduct(n, SIMD16(repeating: -0.693_359_375))
    r = r.addingProduct(n, SIMD16(repeating: 2.121_944_4e-4))
    var p = SIMD16<Float>(repeating: 1.0 / 720)
    p = SIMD16(repeating: 1.0 / 120).addingProduct(p, r)
    p = SIMD16(repeating: 1.0 / 24).addingProduct(p, r)
    p = SIMD16(repeating: 1.0 / 6).addingProduct(p, r)
    p = SIMD16(repeating: 0.5).addingProduct(p, r)
    p = SIMD16(repeating: 1).addingProduct(p, r)
    p = SIMD16(repeating: 1).addingProduct(p, r)
    let k = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((k &+ 127) &<< 23, to: SIMD16<Float>.self)
    return (p * scale).replacing(with: 0, where: x .< -87.3)
}
