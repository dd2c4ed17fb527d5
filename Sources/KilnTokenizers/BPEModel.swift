import Foundation

/// A BPE vocabulary with its merge rules: turns one pre-tokenized piece into token ids.
///
/// Two kinds share the merge loop:
/// - byte-level (GPT-2 family): a piece's UTF-8 bytes are the initial symbols, each spelled as one
///   character of `ByteLevelAlphabet`; merges come from an explicit table.
/// - character-level with byte fallback (SentencePiece family): a piece's characters are the initial
///   symbols, a character missing from the vocabulary becomes its `<0xNN>` byte tokens; merges come from
///   a table (tokenizer.json) or from the vocabulary order (GGUF files, which carry no merges).
final class BPEModel: Sendable {
    enum Kind: Sendable, Equatable {
        case byteLevel
        case characters(byteFallback: Bool)
        /// Not BPE: greedy longest-prefix WordPiece (WordPiece.swift).
        case wordPiece(prefix: String, maxCharacters: Int)
        /// Not BPE: Viterbi over piece scores (Unigram.swift).
        case unigram(byteFallback: Bool)
    }

    enum Merges: Sendable {
        /// Pair (left << 32 | right) → rule.
        case table([UInt64: MergeRule])
        /// Any pair whose concatenated spelling is a token merges, the token that comes first in the
        /// vocabulary first, a longer left part first between two splits of the same token. This is the
        /// merge list Hugging Face derives for a GGUF SentencePiece vocabulary (`generate_merges` over
        /// token positions), computed lazily instead of stored. `rank` orders the merged tokens: by
        /// descending SentencePiece score where the file has scores (as Hugging Face's SentencePiece
        /// conversion sorts its merges), else by id. [vocab]
        case vocabularyOrder(rank: [Int32])
    }

    let kind: Kind
    let merges: Merges
    /// The model's spelling of each token id (byte-level alphabet or SentencePiece text) → id.
    let pieceToID: [ByteString: Int32]
    /// Spelling of every token as UTF-8, flattened. Offsets are [vocab + 1].
    let spellingBytes: [UInt8]
    let spellingOffsets: [Int32]
    /// Scalar count of each token's spelling. [vocab]
    let spellingLengths: [UInt16]
    /// Byte-level: the token of each byte's alphabet character; characters: the `<0xNN>` token. [256], -1 if absent.
    let byteIDs: [Int32]
    /// Characters kind: single-character tokens by scalar value.
    let characterIDs: [UInt32: Int32]
    let unknownID: Int32?
    let fuseUnknown: Bool
    let ignoreMerges: Bool
    /// Unigram log-probabilities. [vocab] for the unigram kind, else empty.
    let scores: [Float]
    /// Unigram: the byte trie of every token spelling, for the lattice's prefix search.
    let trie: ByteTrie?
    /// Unigram: the score of an unknown character, 10 below the worst token.
    let unknownScore: Double
    private let cache = PieceCache()
    private static let cacheLimit = 200_000
    private static let cachedPieceLimit = 256

    /// `mergePairs` are (left, right) spellings, best first; nil derives merges from the vocabulary order,
    /// or from `scores` (higher merges first) when given, `atomic` (user-defined) tokens before all others.
    init(
        kind: Kind, spellings: [String], mergePairs: [(Substring, Substring)]?, unknownID: Int32?, fuseUnknown: Bool,
        ignoreMerges: Bool, scores: [Float]? = nil, atomic: Set<Int32> = []
    ) throws(TokenizerError) {
        self.kind = kind
        if case .unigram = kind {
            self.scores = scores ?? []
            self.trie = ByteTrie(spellings)
            self.unknownScore = Double(scores?.min() ?? 0) - 10
        } else {
            self.scores = []
            self.trie = nil
            self.unknownScore = 0
        }
        self.unknownID = unknownID
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
        var pieceToID: [ByteString: Int32] = [:]
        pieceToID.reserveCapacity(spellings.count)
        var bytes: [UInt8] = []
        var offsets: [Int32] = [0]
        var lengths: [UInt16] = []
        var characterIDs: [UInt32: Int32] = [:]
        for (id, spelling) in spellings.enumerated() {
            let utf8 = Array(spelling.utf8)
            pieceToID[ByteString(utf8)] = Int32(id)  // a repeated spelling resolves to its last id, as in HF
            bytes.append(contentsOf: utf8)
            offsets.append(Int32(bytes.count))
            let scalars = spelling.unicodeScalars
            lengths.append(UInt16(clamping: scalars.count))
            if scalars.count == 1, let scalar = scalars.first { characterIDs[scalar.value] = Int32(id) }
        }
        var byteIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let spelling: String
            switch kind {
            case .byteLevel: spelling = String(Unicode.Scalar(ByteLevelAlphabet.scalarForByte[byte])!)
            default: spelling = "<0x" + hex2(UInt8(byte)) + ">"
            }
            byteIDs[byte] = pieceToID[ByteString(spelling)] ?? -1
        }
        self.pieceToID = pieceToID
        if let mergePairs {
            var table: [UInt64: MergeRule] = [:]
            table.reserveCapacity(mergePairs.count)
            for (rank, (left, right)) in mergePairs.enumerated() {
                guard let l = pieceToID[ByteString(String(left))], let r = pieceToID[ByteString(String(right))] else {
                    throw .invalidMerge("'\(left) \(right)' (rule \(rank)) names a token missing from the vocabulary")
                }
                guard let id = pieceToID[ByteString(String(left) + String(right))] else {
                    throw .invalidMerge(
                        "'\(left) \(right)' (rule \(rank)) makes '\(left)\(right)', which is not a token")
                }
                table[UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))] = MergeRule(
                    rank: UInt64(rank), id: id)
            }
            self.merges = .table(table)
        } else {
            var rank = (0..<Int32(spellings.count)).map { $0 }
            if let scores, scores.count == spellings.count {
                // SentencePiece matches user-defined pieces whole, so they merge before any scored piece.
                let order = (0..<spellings.count).sorted { a, b in
                    let (atomicA, atomicB) = (atomic.contains(Int32(a)), atomic.contains(Int32(b)))
                    if atomicA != atomicB { return atomicA }
                    return scores[a] != scores[b] ? scores[a] > scores[b] : a < b
                }
                for (position, id) in order.enumerated() { rank[id] = Int32(position) }
            }
            self.merges = .vocabularyOrder(rank: rank)
        }
        self.spellingBytes = bytes
        self.spellingOffsets = offsets
        self.spellingLengths = lengths
        self.characterIDs = characterIDs
        self.byteIDs = byteIDs
    }

    /// Appends the tokens of one piece (raw UTF-8 for byte-level, normalized text otherwise).
    func encode(_ piece: ArraySlice<UInt8>, into output: inout [Int32]) {
        let cacheable = piece.count <= Self.cachedPieceLimit
        let key = ByteString(piece)
        if cacheable, let hit = cache.lookup(key) {
            output.append(contentsOf: hit)
            return
        }
        var symbols: [Int32]
        switch kind {
        case .wordPiece(let prefix, let maxCharacters):
            symbols = wordPieceSymbols(piece, prefix: prefix, maxCharacters: maxCharacters)
        case .unigram(let byteFallback):
            symbols = unigramSymbols(piece, byteFallback: byteFallback)
        case .byteLevel, .characters:
            symbols = bpeSymbols(piece)
        }
        output.append(contentsOf: symbols)
        if cacheable { cache.store(key, symbols, limit: Self.cacheLimit) }
    }

    private func bpeSymbols(_ piece: ArraySlice<UInt8>) -> [Int32] {
        if ignoreMerges {
            let spelled =
                kind == .byteLevel ? ByteString(Array(ByteLevelAlphabet.spell(piece).utf8)) : ByteString(piece)
            if let whole = pieceToID[spelled] { return [whole] }
        }
        var symbols = initialSymbols(piece)
        do {
            switch merges {
            case .table(let table):
                mergeSymbols(&symbols) { left, right in
                    table[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))]
                }
            case .vocabularyOrder(let rank):
                var scratch = ByteString([])
                scratch.bytes.reserveCapacity(64)
                mergeSymbols(&symbols) { left, right in vocabularyOrderRule(left, right, rank, &scratch) }
            }
        }
        return symbols
    }

    private func initialSymbols(_ piece: ArraySlice<UInt8>) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        switch kind {
        case .byteLevel:
            for byte in piece where byteIDs[Int(byte)] >= 0 { symbols.append(byteIDs[Int(byte)]) }
        case .wordPiece:
            break
        case .characters(let byteFallback), .unigram(let byteFallback):
            var lastWasUnknown = false
            var start = piece.startIndex
            var iterator = piece.makeIterator()
            var decoder = UTF8()
            while case .scalarValue(let scalar) = decoder.decode(&iterator) {
                let width = UTF8.width(scalar)
                let bytes = piece[start..<(start + width)]
                start += width
                if let id = characterIDs[scalar.value] {
                    symbols.append(id)
                    lastWasUnknown = false
                } else if byteFallback, bytes.allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                    for byte in bytes { symbols.append(byteIDs[Int(byte)]) }
                    lastWasUnknown = false
                } else if let unknownID {
                    if !(fuseUnknown && lastWasUnknown) { symbols.append(unknownID) }
                    lastWasUnknown = true
                }
            }
        }
        return symbols
    }

    /// `scratch` is reused for the joined spelling so that a lookup allocates nothing.
    private func vocabularyOrderRule(
        _ left: Int32, _ right: Int32, _ rank: [Int32], _ scratch: inout ByteString
    ) -> MergeRule? {
        scratch.bytes.removeAll(keepingCapacity: true)
        scratch.bytes.append(contentsOf: spelling(left))
        scratch.bytes.append(contentsOf: spelling(right))
        guard let id = pieceToID[scratch] else { return nil }
        let leftLength = UInt64(spellingLengths[Int(left)])
        return MergeRule(rank: UInt64(rank[Int(id)]) << 16 | (0xFFFF - leftLength), id: id)
    }

    /// The model's spelling of a token, as UTF-8.
    @inline(__always)
    func spelling(_ id: Int32) -> ArraySlice<UInt8> {
        spellingBytes[Int(spellingOffsets[Int(id)])..<Int(spellingOffsets[Int(id) + 1])]
    }

    var count: Int { spellingLengths.count }
}

/// Piece → ids, shared by every thread that encodes with one tokenizer; emptied when it grows past its
/// limit. (A lock rather than `Mutex`, which needs macOS 15 and the package supports macOS 14.)
private final class PieceCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [ByteString: [Int32]] = [:]

    func lookup(_ key: ByteString) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    func store(_ key: ByteString, _ ids: [Int32], limit: Int) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
        entries[key] = ids
    }
}

func hex2(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}
