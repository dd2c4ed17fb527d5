extension PagedKVCache {
    /// Copies block `source`'s keys and values, every layer, into block `destination` (copy-on-write of a
    /// partial block that forked sequences shared).
    public func copyBlock(from source: Int, to destination: Int) {
        precondition(source >= 0 && source < blockCount && destination >= 0 && destination < blockCount)
        guard source != destination else { return }
        let width = blockSize * kvDim * dtype.bytes
        for layer in 0..<layers {
            let k = keys(layer: layer)
            let v = values(layer: layer)
            (k + destination * width).copyMemory(from: k + source * width, byteCount: width)
            (v + destination * width).copyMemory(from: v + source * width, byteCount: width)
        }
    }
}
