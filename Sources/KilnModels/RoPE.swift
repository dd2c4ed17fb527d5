import Foundation

/// Precomputed rotary-embedding angles: `cos`/`sin` of `position × inverseFrequency[i]` for i < headDim/2.
///
/// Angles are formed in Float32 the way Hugging Face forms them (inverse frequencies in float32, one float32
/// product with the position), so Kiln's logits track transformers' at long positions too.
public struct RoPETable: Sendable {
    public let halfDim: Int
    public private(set) var cos: [Float]  // [positions, halfDim]
    public private(set) var sin: [Float]  // [positions, halfDim]
    public let inverseFrequency: [Float]  // [halfDim]

    public var positions: Int { cos.count / max(halfDim, 1) }

    init(headDim: Int, theta: Double, linearFactor: Double, llama3: Llama3RoPEScaling?, frequencyFactors: [Float]?) {
        halfDim = headDim / 2
        var inv = (0..<halfDim).map { i -> Float in
            let exponent = Float(2 * i) / Float(headDim)
            return 1 / powf(Float(theta), exponent)
        }
        if linearFactor != 1 { inv = inv.map { $0 / Float(linearFactor) } }
        if let factors = frequencyFactors {
            for i in 0..<halfDim { inv[i] /= factors[i] }
        } else if let s = llama3 {
            let lowWavelength = s.originalContextLength / s.lowFrequencyFactor
            let highWavelength = s.originalContextLength / s.highFrequencyFactor
            inv = inv.map { f in
                let wavelength = 2 * Double.pi / Double(f)
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return f / Float(s.factor) }
                let smooth = (s.originalContextLength / wavelength - s.lowFrequencyFactor)
                    / (s.highFrequencyFactor - s.lowFrequencyFactor)
                return Float((1 - smooth) * Double(f) / s.factor + smooth * Double(f))
            }
        }
        inverseFrequency = inv
        cos = []
        sin = []
    }

    /// Extends the table to cover positions `0..<count`.
    mutating func reserve(_ count: Int) {
        let have = positions
        guard count > have else { return }
        cos.reserveCapacity(count * halfDim)
        sin.reserveCapacity(count * halfDim)
        for p in have..<count {
            for i in 0..<halfDim {
                let angle = Float(p) * inverseFrequency[i]
                cos.append(Foundation.cos(angle))
                sin.append(Foundation.sin(angle))
            }
        }
    }
}
