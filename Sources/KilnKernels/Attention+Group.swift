// Attention of all query heads of one GQA group (one query token) over their shared keys and values.
//
// Each key and value row is loaded once for up to four heads, and the heads' query chunks and output
// accumulators stay in registers: per key and 64 dimensions, 4 loads serve 16 FMAs, and the weighted sum of values
// needs no load or store of the output per key (the per-head loop of `attend` re-reads and re-writes its output
// row for every key). Dimensions go in chunks of 64 so that head sizes 64, 128 and 256 all fit the registers.
// Softmax is the same two-pass, max-subtracted one as `attend`.

extension Attention {
    /// out[h] = softmax(scale · q[h]·Kᵀ) · V for heads h < `heads`, with q[h] at `queries + h·headDim` and out[h] at
    /// `out + h·headDim`. `scores` holds 4 · (count + 3) floats. headDim must be a multiple of 64 (else use `attend`).
    public static func attendGroup(
        queries: UnsafePointer<Float>, heads: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        stride: Int, count: Int, headDim: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) {
        precondition(headDim % 64 == 0, "attendGroup needs head sizes that are multiples of 64")
        let rows = KeyRows(table: nil, blockSize: max(count, 1), first: 0, count: count)
        var h0 = 0
        while h0 < heads {
            let n = min(4, heads &- h0)
            quad(
                F32Element.self, queries: queries + h0 &* headDim, heads: n, keys: UnsafeRawPointer(keys),
                values: UnsafeRawPointer(values), stride: stride, rows: rows, headDim: headDim, scale: scale,
                scores: scores, out: out + h0 &* headDim)
            h0 &+= n
        }
    }

    /// `attendGroup` over positions `first ..< first + count` of a sequence whose positions live in blocks: position
    /// p is row `blockTable[p / blockSize] · blockSize + p % blockSize` of `keys`/`values`. The keys are visited in
    /// position order with the same arithmetic as `attendGroup`, so the result is bit-identical to `attendGroup`
    /// over the same positions laid out contiguously, wherever the blocks are.
    public static func attendGroupPaged(
        queries: UnsafePointer<Float>, heads: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        stride: Int, blockTable: UnsafePointer<Int>, blockSize: Int, first: Int, count: Int, headDim: Int,
        scale: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        precondition(headDim % 64 == 0, "attendGroupPaged needs head sizes that are multiples of 64")
        let rows = KeyRows(table: blockTable, blockSize: blockSize, first: first, count: count)
        var h0 = 0
        while h0 < heads {
            let n = min(4, heads &- h0)
            quad(
                F32Element.self, queries: queries + h0 &* headDim, heads: n, keys: UnsafeRawPointer(keys),
                values: UnsafeRawPointer(values), stride: stride, rows: rows, headDim: headDim, scale: scale,
                scores: scores, out: out + h0 &* headDim)
            h0 &+= n
        }
    }

    /// `attendGroupPaged` over a cache stored as `dtype` (`stride` elements between rows, the pointers at this KV
    /// head's slice). Each key and value element is widened to float32 as it is loaded and the arithmetic is that of
    /// the float32 kernel, so with `.f32` the result is bit-identical to it, and for every format it does not depend
    /// on where the blocks are.
    public static func attendGroupPaged(
        queries: UnsafePointer<Float>, heads: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer,
        dtype: KVCacheDType, stride: Int, blockTable: UnsafePointer<Int>, blockSize: Int, first: Int, count: Int,
        headDim: Int, scale: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        precondition(headDim % 64 == 0, "attendGroupPaged needs head sizes that are multiples of 64")
        let rows = KeyRows(table: blockTable, blockSize: blockSize, first: first, count: count)
        var h0 = 0
        while h0 < heads {
            let n = min(4, heads &- h0)
            let q = queries + h0 &* headDim
            let o = out + h0 &* headDim
            switch dtype {
            case .f32:
                quad(
                    F32Element.self, queries: q, heads: n, keys: keys, values: values, stride: stride, rows: rows,
                    headDim: headDim, scale: scale, scores: scores, out: o)
            case .f16:
                quad(
                    F16Element.self, queries: q, heads: n, keys: keys, values: values, stride: stride, rows: rows,
                    headDim: headDim, scale: scale, scores: scores, out: o)
            case .bf16:
                quad(
                    BF16Element.self, queries: q, heads: n, keys: keys, values: values, stride: stride, rows: rows,
                    headDim: headDim, scale: scale, scores: scores, out: o)
            }
            h0 &+= n
        }
    }

    /// Where a sequence's visible positions live: runs of consecutive rows, one per block touched (one run in all
    /// without a table).
    struct KeyRows {
        let table: UnsafePointer<Int>?
        let blockSize: Int
        let first: Int
        let count: Int

        /// Calls `body(j, row, n)` for keys j ..< j + n, which sit in rows row ..< row + n, in order.
        @inline(__always)
        func forEachRun(_ body: (Int, Int, Int) -> Void) {
            guard let table else {
                body(0, first, count)
                return
            }
            var j = 0
            var p = first
            while j < count {
                let offset = p % blockSize
                let n = min(blockSize &- offset, count &- j)
                body(j, table[p / blockSize] &* blockSize &+ offset, n)
                j &+= n
                p &+= n
            }
        }
    }

    /// Up to four heads, reading keys and values stored as `E`. Scores are kept interleaved, [count rounded up to
    /// 4][4 heads], so one SIMD4 per key holds the four heads' scores and the softmax runs 16 lanes (4 keys × 4
    /// heads) at a time. Absent heads repeat head 0's query and their results are dropped.
    @inline(__always)
    static func quad<E: KVElement>(
        _: E.Type, queries: UnsafePointer<Float>, heads n: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer,
        stride: Int, rows: KeyRows, headDim: Int, scale: Float, scores s: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) {
        let count = rows.count
        let padded = (count &+ 3) & ~3
        let s4 = UnsafeMutableRawPointer(s)
        var c = 0
        while c < headDim {
            let q0 = Chunk(queries + c)
            let q1 = Chunk(queries + ((n > 1 ? headDim : 0) &+ c))
            let q2 = Chunk(queries + ((n > 2 ? 2 &* headDim : 0) &+ c))
            let q3 = Chunk(queries + ((n > 3 ? 3 &* headDim : 0) &+ c))
            rows.forEachRun { j0, row0, n in
                for i in 0..<n {
                    let j = j0 &+ i
                    let k = Chunk(E.self, keys + ((row0 &+ i) &* stride &+ c) &* E.bytes)
                    var d = SIMD4(q0.dot(k), q1.dot(k), q2.dot(k), q3.dot(k))
                    if c > 0 { d += s4.load(fromByteOffset: j &* 16, as: SIMD4<Float>.self) }
                    s4.storeBytes(of: d, toByteOffset: j &* 16, as: SIMD4<Float>.self)
                }
            }
            c &+= 64
        }
        for j in count..<padded {
            s4.storeBytes(of: SIMD4(repeating: -.infinity), toByteOffset: j &* 16, as: SIMD4<Float>.self)
        }
        // Softmax of each head (lane j % 4 of every 16-lane group) over the keys.
        let scale16 = SIMD16<Float>(repeating: scale)
        var peak = SIMD16<Float>(repeating: -.infinity)
        var j = 0
        while j < padded {
            let v = loadFloats16(s + j &* 4) * scale16
            storeFloats16(v, s + j &* 4)
            peak = maxLanes(peak, v)
            j &+= 4
        }
        let peak4 = maxLanes(maxLanes(peak.lowHalf.lowHalf, peak.lowHalf.highHalf), maxLanes(peak.highHalf.lowHalf, peak.highHalf.highHalf))
        let shift = SIMD16(lowHalf: SIMD8(lowHalf: peak4, highHalf: peak4), highHalf: SIMD8(lowHalf: peak4, highHalf: peak4))
        var total = SIMD16<Float>()
        j = 0
        while j < padded {
            let e = ActivationKernels.exp(loadFloats16(s + j &* 4) - shift)
            total += e
            storeFloats16(e, s + j &* 4)
            j &+= 4
        }
        let total4 = (total.lowHalf.lowHalf + total.lowHalf.highHalf) + (total.highHalf.lowHalf + total.highHalf.highHalf)
        let inverse = 1 / total4
        c = 0
        while c < headDim {
            var o0 = Chunk(), o1 = Chunk(), o2 = Chunk(), o3 = Chunk()
            rows.forEachRun { j0, row0, n in
                for i in 0..<n {
                    let v = Chunk(E.self, values + ((row0 &+ i) &* stride &+ c) &* E.bytes)
                    let p = s4.load(fromByteOffset: (j0 &+ i) &* 16, as: SIMD4<Float>.self) * inverse
                    o0.add(p[0], v)
                    o1.add(p[1], v)
                    o2.add(p[2], v)
                    o3.add(p[3], v)
                }
            }
            o0.store(out + c)
            if n > 1 { o1.store(out + (headDim &+ c)) }
            if n > 2 { o2.store(out + (2 &* headDim &+ c)) }
            if n > 3 { o3.store(out + (3 &* headDim &+ c)) }
            c &+= 64
        }
    }

    @inline(__always)
    static func maxLanes<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == Float {
        a.replacing(with: b, where: a .< b)
    }

    /// 64 floats in four registers.
    struct Chunk {
        var a = SIMD16<Float>(), b = SIMD16<Float>(), c = SIMD16<Float>(), d = SIMD16<Float>()

        init() {}

        @inline(__always)
        init(_ p: UnsafePointer<Float>) {
            a = loadFloats16(p)
            b = loadFloats16(p + 16)
            c = loadFloats16(p + 32)
            d = loadFloats16(p + 48)
        }

        /// 64 elements of format `E` at `p`, widened to float32.
        @inline(__always)
        init<E: KVElement>(_: E.Type, _ p: UnsafeRawPointer) {
            a = E.load16(p)
            b = E.load16(p + 16 &* E.bytes)
            c = E.load16(p + 32 &* E.bytes)
            d = E.load16(p + 48 &* E.bytes)
        }

        @inline(__always)
        func dot(_ k: Chunk) -> Float {
            let x = (a * k.a).addingProduct(b, k.b)
            let y = (c * k.c).addingProduct(d, k.d)
            return horizontalSum(x + y)
        }

        @inline(__always)
        mutating func add(_ p: Float, _ v: Chunk) {
            let w = SIMD16<Float>(repeating: p)
            a = a.addingProduct(w, v.a)
            b = b.addingProduct(w, v.b)
            c = c.addingProduct(w, v.c)
            d = d.addingProduct(w, v.d)
        }

        @inline(__always)
        func store(_ p: UnsafeMutablePointer<Float>) {
            storeFloats16(a, p)
            storeFloats16(b, p + 16)
            storeFloats16(c, p + 32)
            storeFloats16(d, p + 48)
        }
    }
}
