/// What one step computes: the scheduler's result, a plain value the engine turns into a forward pass.
public struct StepPlan: Sendable, Equatable {
    /// A run of consecutive tokens of one sequence whose KV this step computes.
    public struct Chunk: Sendable, Equatable {
        public var sequence: SequenceID
        /// Position of the first token.
        public var start: Int
        /// The tokens at positions `start ..< start + tokens.count`.
        public var tokens: [Int32]
        /// True when the chunk reaches the sequence's last known token, so its last row needs logits.
        public var samples: Bool
        /// Block ids covering positions `0 ..< start + tokens.count`.
        public var blockTable: [Int]

        public init(sequence: SequenceID, start: Int, tokens: [Int32], samples: Bool, blockTable: [Int]) {
            self.sequence = sequence
            self.start = start
            self.tokens = tokens
            self.samples = samples
            self.blockTable = blockTable
        }
    }

    /// Running sequences first, oldest first, then the sequences admitted in this step, in queue order.
    public var chunks: [Chunk]
    /// Sequences preempted by recompute in this step: their KV is gone and they wait at the front of the
    /// queue, so the engine must not expect tokens for them until they run again.
    public var preempted: [SequenceID]
    /// Tokens over all chunks; never more than the configured `maxBatchTokens`.
    public var tokenCount: Int

    public init(chunks: [Chunk] = [], preempted: [SequenceID] = []) {
        self.chunks = chunks
        self.preempted = preempted
        self.tokenCount = chunks.reduce(0) { $0 + $1.tokens.count }
    }

    public var isEmpty: Bool { chunks.isEmpty }
}

/// Counters since the scheduler was made.
public struct SchedulerStats: Sendable, Equatable {
    /// Tokens whose KV was found in the prefix cache at admission (a resumed sequence counts again).
    public var prefixCacheHitTokens = 0
    /// Tokens looked up in the prefix cache at admission: the prompt, plus the generated tokens of a
    /// sequence resumed after preemption. Zero when prefix caching is off.
    public var prefixCacheQueryTokens = 0
    /// Running sequences whose KV was dropped to make room (maxUtilization only).
    public var preemptions = 0
    /// Cached blocks whose KV was dropped to hand the block out again.
    public var evictions = 0

    public init() {}
}
