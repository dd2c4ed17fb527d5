// Attention of all query heads of one GQA group (one query token) over their shared keys and values.
//
// Each key and value row is loaded once for up to four heads, and the heads' query chunks and output
// accumulators stay in registers: per key and 64 dimensions, 4 loads serve 16 FMAs, and the weighted sum of values
// needs no load or store of the output per key (the per-head loop of `attend` re-reads and re-writes its output
// row for every key). Dimensions go in chunks of 64 so that head sizes 64, 128 and 256 all fit the registers.
// Softmax is the same two-pass, max-subtracted one as `attend`.

import CKilnKernels

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

        /// The row of key j.
        @inline(__always)
        func row(_ j: Int) -> Int {
            guard let table else { return first &+ j }
            let p = first &+ j
            return table[p / blockSize] &* blockSize &+ p % blockSize
        }

        /// The rows of keys 0, 1, 2, … in turn.
        @inline(__always)
        func cursor() -> Cursor { Cursor(rows: self) }

        struct Cursor {
            let table: UnsafePointer<Int>?
            let blockSize: Int
            var block: Int
            var offset: Int

            @inline(__always)
            init(rows: KeyRows) {
                table = rows.table
                blockSize = rows.blockSize
                block = rows.table == nil ? 0 : rows.first / rows.blockSize
                offset = rows.table == nil ? rows.first : rows.first % rows.blockSize
            }

            @inline(__always)
            mutating func next() -> Int {
                guard let table else {
                    offset &+= 1
                    return offset &- 1
                }
                let r = table[block] &* blockSize &+ offset
                offset &+= 1
                if offset == blockSize {
                    offset = 0
                    block &+= 1
                }
                return r
            }
        }

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
        // Scores four keys at a time against the four heads: 16 accumulators whose lanes run over 16 dimensions,
        // reduced together at the end (`QuadScores.sums`).
        let q1 = queries + (n > 1 ? headDim : 0)
        let q2 = queries + (n > 2 ? 2 &* headDim : 0)
        let q3 = queries + (n > 3 ? 3 &* headDim : 0)
        let scale16 = SIMD16<Float>(repeating: scale)
        var peak = SIMD16<Float>(repeating: -.infinity)
        var cursor = rows.cursor()
        let lastRow = rows.row(count &- 1)
        // Key rows are kvDim elements apart in a pool far larger than the caches, which the hardware prefetcher
        // does not follow: each 4-key step asks for the keys two steps on, and for its own keys' values (read
        // after the softmax) into L2.
        let rowBytes = headDim &* E.bytes
        var ahead = rows.cursor()
        for _ in 0..<min(8, count) { _ = ahead.next() }
        var j = 0
        while j < count {
            let r0 = cursor.next()
            let r1 = j &+ 1 < count ? cursor.next() : lastRow
            let r2 = j &+ 2 < count ? cursor.next() : lastRow
            let r3 = j &+ 3 < count ? cursor.next() : lastRow
            var i = j &+ 8
            while i < min(j &+ 12, count) {
                let k = keys + ahead.next() &* stride &* E.bytes
                var b = 0
                while b < rowBytes {
                    kiln_prefetch(k + b)
                    b &+= 64
                }
                i &+= 1
            }
            var b = 0
            while b < rowBytes {
                kiln_prefetch_l2(values + (r0 &* stride &* E.bytes &+ b))
                kiln_prefetch_l2(values + (r1 &* stride &* E.bytes &+ b))
                kiln_prefetch_l2(values + (r2 &* stride &* E.bytes &+ b))
                kiln_prefetch_l2(values + (r3 &* stride &* E.bytes &+ b))
                b &+= 64
            }
            let k0 = keys + r0 &* stride &* E.bytes, k1 = keys + r1 &* stride &* E.bytes
            let k2 = keys + r2 &* stride &* E.bytes, k3 = keys + r3 &* stride &* E.bytes
            var acc = QuadScores()
            var c = 0
            while c < headDim {
                let b = c &* E.bytes
                acc.add(
                    E.load16(k0 + b), E.load16(k1 + b), E.load16(k2 + b), E.load16(k3 + b), loadFloats16(queries + c),
                    loadFloats16(q1 + c), loadFloats16(q2 + c), loadFloats16(q3 + c))
                c &+= 16
            }
            // Keys past `count` repeat the last key's scores, which leave the maximum unchanged.
            let v = acc.sums() * scale16
            storeFloats16(v, s + j &* 4)
            peak = max16(peak, v)
            j &+= 4
        }
        for j in count..<padded {
            s4.storeBytes(of: SIMD4(repeating: -.infinity), toByteOffset: j &* 16, as: SIMD4<Float>.self)
        }
        // Softmax of each head (lane j % 4 of every 16-lane group) over the keys.
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
        // The weights, each e · (1 / total) of its head.
        let inverse16 = SIMD16(
            lowHalf: SIMD8(lowHalf: inverse, highHalf: inverse), highHalf: SIMD8(lowHalf: inverse, highHalf: inverse))
        j = 0
        while j < padded {
            storeFloats16(loadFloats16(s + j &* 4) * inverse16, s + j &* 4)
            j &+= 4
        }
        var c = 0
        while c < headDim {
            var o0 = Chunk(), o1 = Chunk(), o2 = Chunk(), o3 = Chunk()
            rows.forEachRun { j0, row0, n in
                for i in 0..<n {
                    let v = Chunk(E.self, values + ((row0 &+ i) &* stride &+ c) &* E.bytes)
                    let p = s4.load(fromByteOffset: (j0 &+ i) &* 16, as: SIMD4<Float>.self)
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
    static func max16(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = a[i] < b[i] ? b[i] : a[i] }
        return r
    }

    @inline(__always)
    static func maxLanes<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == Float {
        a.replacing(with: b, where: a .< b)
    }

    /// Dot products of four keys with four queries, 16 dimensions at a time: accumulator `kh` (key k, head h)
    /// holds in lane i the sum over its dimensions ≡ i (mod 16), in dimension order. `sums` then reduces all 16 at
    /// once, each by the same tree as `horizontalSum` (lanes i + 8, then + 4, + 2, + 1), into lane 4k + h. Every
    /// (key, head) score is thus the same float operations whichever keys and heads share the block.
    struct QuadScores {
        var a00 = SIMD16<Float>(), a01 = SIMD16<Float>(), a02 = SIMD16<Float>(), a03 = SIMD16<Float>()
        var a10 = SIMD16<Float>(), a11 = SIMD16<Float>(), a12 = SIMD16<Float>(), a13 = SIMD16<Float>()
        var a20 = SIMD16<Float>(), a21 = SIMD16<Float>(), a22 = SIMD16<Float>(), a23 = SIMD16<Float>()
        var a30 = SIMD16<Float>(), a31 = SIMD16<Float>(), a32 = SIMD16<Float>(), a33 = SIMD16<Float>()

        @inline(__always)
        mutating func add(
            _ k0: SIMD16<Float>, _ k1: SIMD16<Float>, _ k2: SIMD16<Float>, _ k3: SIMD16<Float>, _ q0: SIMD16<Float>,
            _ q1: SIMD16<Float>, _ q2: SIMD16<Float>, _ q3: SIMD16<Float>
        ) {
            a00 = a00.addingProduct(k0, q0)
            a01 = a01.addingProduct(k0, q1)
            a02 = a02.addingProduct(k0, q2)
            a03 = a03.addingProduct(k0, q3)
            a10 = a10.addingProduct(k1, q0)
            a11 = a11.addingProduct(k1, q1)
            a12 = a12.addingProduct(k1, q2)
            a13 = a13.addingProduct(k1, q3)
            a20 = a20.addingProduct(k2, q0)
            a21 = a21.addingProduct(k2, q1)
            a22 = a22.addingProduct(k2, q2)
            a23 = a23.addingProduct(k2, q3)
            a30 = a30.addingProduct(k3, q0)
            a31 = a31.addingProduct(k3, q1)
            a32 = a32.addingProduct(k3, q2)
            a33 = a33.addingProduct(k3, q3)
        }

        /// Lane 4k + h: the sum of accumulator kh's lanes.
        @inline(__always)
        func sums() -> SIMD16<Float> {
            // Input v(4h + k) = accumulator kh; the tree below leaves Σ v(4m + b) in lane 4b + m.
            let r10 = Self.halves(a00, a10), r11 = Self.halves(a20, a30)
            let r12 = Self.halves(a01, a11), r13 = Self.halves(a21, a31)
            let r14 = Self.halves(a02, a12), r15 = Self.halves(a22, a32)
            let r16 = Self.halves(a03, a13), r17 = Self.halves(a23, a33)
            let r20 = Self.quarters(r10, r11), r21 = Self.quarters(r12, r13)
            let r22 = Self.quarters(r14, r15), r23 = Self.quarters(r16, r17)
            let r30 = Self.pairs(r20, r21), r31 = Self.pairs(r22, r23)
            return Self.singles(r30, r31)
        }

        /// [a(i) + a(i + 8) for i < 8, b(i) + b(i + 8) for i < 8]
        @inline(__always)
        static func halves(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            SIMD16(lowHalf: a.lowHalf, highHalf: b.lowHalf) + SIMD16(lowHalf: a.highHalf, highHalf: b.highHalf)
        }

        /// From a = [A, B] and b = [C, D] (8 lanes each): [A(i) + A(i + 4), B(…), C(…), D(…)], 4 lanes each.
        @inline(__always)
        static func quarters(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            let x = SIMD16(
                lowHalf: SIMD8(lowHalf: a.lowHalf.lowHalf, highHalf: a.highHalf.lowHalf),
                highHalf: SIMD8(lowHalf: b.lowHalf.lowHalf, highHalf: b.highHalf.lowHalf))
            let y = SIMD16(
                lowHalf: SIMD8(lowHalf: a.lowHalf.highHalf, highHalf: a.highHalf.highHalf),
                highHalf: SIMD8(lowHalf: b.lowHalf.highHalf, highHalf: b.highHalf.highHalf))
            return x + y
        }

        /// Within each 4-lane block: [a0 + a2, a1 + a3, b0 + b2, b1 + b3]. (Lane loops: LLVM turns them into
        /// single shuffles, where a 16-scalar initializer became a chain of inserts.)
        @inline(__always)
        static func pairs(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            let ad = unsafeBitCast(a, to: SIMD8<Double>.self), bd = unsafeBitCast(b, to: SIMD8<Double>.self)
            var x = SIMD8<Double>(), y = SIMD8<Double>()
            for i in 0..<4 {
                x[2 &* i] = ad[2 &* i]
                x[2 &* i &+ 1] = bd[2 &* i]
                y[2 &* i] = ad[2 &* i &+ 1]
                y[2 &* i &+ 1] = bd[2 &* i &+ 1]
            }
            return unsafeBitCast(x, to: SIMD16<Float>.self) + unsafeBitCast(y, to: SIMD16<Float>.self)
        }

        /// Within each 4-lane block: [a0 + a1, a2 + a3, b0 + b1, b2 + b3].
        @inline(__always)
        static func singles(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            var x = SIMD16<Float>(), y = SIMD16<Float>()
            for i in 0..<4 {
                x[4 &* i] = a[4 &* i]
                x[4 &* i &+ 1] = a[4 &* i &+ 2]
                x[4 &* i &+ 2] = b[4 &* i]
                x[4 &* i &+ 3] = b[4 &* i &+ 2]
                y[4 &* i] = a[4 &* i &+ 1]
                y[4 &* i &+ 1] = a[4 &* i &+ 3]
                y[4 &* i &+ 2] = b[4 &* i &+ 1]
                y[4 &* i &+ 3] = b[4 &* i &+ 3]
            }
            return x + y
        }
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
