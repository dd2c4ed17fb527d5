/// Keys and values of one sequence, contiguous per layer: `[layers, capacity, kvHeads * headDim]` in Float32.
///
/// The paged, multi-sequence cache belongs to the batching engine; this is the single-sequence cache that
/// `kiln generate` and the reference tests use.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let capacity: Int
    public let kvDim: Int
    /// Positions already written (the next token goes here).
    public internal(set) var count = 0
    let keys: UnsafeMutablePointer<Float>  // [layers, capacity, kvDim]
    let values: UnsafeMutablePointer<Float>  // [layers, capacity, kvDim]

    public init(config: ModelConfig, capacity: Int) {
        layers = config.layerCount
        self.capacity = capacity
        kvDim = config.kvDim
        let n = layers * capacity * kvDim
        keys = .allocate(capacity: max(n, 1))
        values = .allocate(capacity: max(n, 1))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys + layer &* capacity &* kvDim }
    func values(layer: Int) -> UnsafeMutablePointer<Float> { values + layer &* capacity &* kvDim }

    /// Forgets every position (the memory is reused).
    public func reset() { count = 0 }
}
