extension Scheduler {
    /// After the forward pass: advances the computed count of every chunk in `plan` and appends the sampled
    /// token of each chunk that sampled. Full blocks that are now computed join the prefix cache.
    ///
    /// Call it once per `schedule()`, with that step's plan. Chunks of sequences finished in the meantime
    /// (or otherwise no longer at the chunk's start) are ignored, as are tokens for chunks that do not sample.
    /// A sampling chunk without a token leaves its sequence with nothing to compute: it stays idle, holding
    /// its blocks and its place in the batch, until the engine finishes it.
    public mutating func commit(_ plan: StepPlan, sampled: [SequenceID: Int32]) {
        for chunk in plan.chunks {
            guard var sequence = sequences[chunk.sequence], sequence.status == .running,
                sequence.computedCount == chunk.start,
                chunk.start + chunk.tokens.count <= sequence.blockTable.count * config.blockSize
            else { continue }
            sequences[chunk.sequence] = nil  // keep the token array uniquely referenced while it grows
            sequence.computedCount += chunk.tokens.count
            if chunk.samples, sequence.computedCount == sequence.tokens.count, let token = sampled[chunk.sequence] {
                sequence.tokens.append(token)
            }
            if config.prefixCaching { registerFullBlocks(of: &sequence) }
            sequences[chunk.sequence] = sequence
        }
    }

    /// Registers each block that became full and computed since the last call, in order, so each key can
    /// name its parent's content.
    mutating func registerFullBlocks(of sequence: inout SequenceState) {
        let size = config.blockSize
        while sequence.blockContents.count < sequence.computedCount / size {
            let index = sequence.blockContents.count
            let parent = index == 0 ? BlockManager.rootContent : sequence.blockContents[index - 1]
            let content = blocks.register(
                sequence.blockTable[index], parent: parent,
                tokens: sequence.tokens[index * size..<(index + 1) * size])
            sequence.blockContents.append(content)
        }
    }
}
