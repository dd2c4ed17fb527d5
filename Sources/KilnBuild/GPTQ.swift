import KilnKernels
import KilnTensors

/// Calibration-based rounding of 4-bit weights, after GPTQ (Frantar et al., "GPTQ: Accurate Post-Training
/// Quantization for Generative Pre-trained Transformers", 2022), for q4_0 and int4.
///
/// Round-to-nearest minimizes each weight's own error, but what a layer's output feels is Σ over real inputs x of
/// ((w − q)·x)², that is (w − q) H (w − q)ᵀ per row with H = Σ x xᵀ over a calibration text. GPTQ quantizes a row's
/// columns in order and after each one moves the columns not yet quantized to the values that minimize that error
/// given the columns already fixed (the optimal-brain-surgeon update): with U the upper Cholesky factor of H⁻¹
/// (H⁻¹ = UᵀU), after column i, w[j] −= (w[i] − q[i]) / U[i,i] · U[i,j] for every j > i. A group's scale (and
/// offset) is chosen when its first column comes up, from the group's updated weights, by the same choice as
/// without calibration (`Quantize.q4_0Scale`, `Quantize.q4_1Parameters`) except that each value's squared error is
/// weighted by H's (damped) diagonal, the input energy its weight multiplies (as llama.cpp's importance matrix
/// weighs its scale searches): on SmolLM2 this took q4_0 from +15.4 % to +9.0 % over float32 (weighting by the
/// weights' own magnitude had measured worse without calibration, where nothing says which inputs matter). Rows are
/// independent given U: they are split across threads, several at a time so that each row of U is read once per
/// tile of rows.
///
/// - H is damped, H + λ·mean(diag H)·I with λ = 0.01 (0.1 measured worse), so that it is safely positive definite;
///   an input that was always zero (diagonal 0) gets a unit diagonal and so passes no error on.
/// - U without forming H⁻¹: with H = R Rᵀ, R upper triangular (the Cholesky factor of H with its rows and columns
///   reversed, reversed back), H⁻¹ = R⁻ᵀ R⁻¹, so U = R⁻¹.
/// - The row work is in Float64: the rounding decisions then follow the exact algorithm (a unit test compares them
///   with a plain Float64 implementation).
public enum GPTQ {
    public static let defaultDamping = 0.01

    /// U [n, n], row-major, upper triangular: H⁻¹ = UᵀU for the damped H.
    public struct Factor: Sendable {
        public let n: Int
        let u: [Double]
        /// The damped diagonal of H: how much each column's error weighs, for the groups' grid choice.
        let importance: [Float]
    }

    public struct FactorError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The factor of H [n, n] (row-major, symmetric, Σ x xᵀ). A Cholesky factorization that fails (H not positive
    /// definite after damping, in floating point) is retried with ten times the damping, up to three times.
    public static func factor(
        hessian h: UnsafePointer<Float>, n: Int, damping: Double = defaultDamping, pool: ThreadPool? = nil
    ) throws -> Factor {
        var diagonal = [Double](repeating: 0, count: n)
        for i in 0..<n { diagonal[i] = Double(h[i * n + i]) > 0 ? Double(h[i * n + i]) : 1 }
        let mean = diagonal.reduce(0, +) / Double(max(n, 1))
        var lambda = damping
        for _ in 0..<4 {
            // a = P (H + damp·I) P, P the reversal, in Float64.
            var a = [Double](repeating: 0, count: n * n)
            a.withUnsafeMutableBufferPointer { a in
                for i in 0..<n {
                    for j in 0..<n { a[i * n + j] = Double(h[(n - 1 - i) * n + (n - 1 - j)]) }
                    a[i * n + i] = diagonal[n - 1 - i] + lambda * mean
                }
            }
            if a.withUnsafeMutableBufferPointer({ choleskyInPlace($0.baseAddress!, n) }) {
                // a = L (lower), P H P = L Lᵀ; then M = L⁻¹ and U = R⁻¹ = P M P.
                var m = [Double](repeating: 0, count: n * n)
                a.withUnsafeBufferPointer { l in
                    m.withUnsafeMutableBufferPointer { invertLower(l.baseAddress!, into: $0.baseAddress!, n, pool: pool) }
                }
                var u = [Double](repeating: 0, count: n * n)
                for i in 0..<n {
                    for j in i..<n { u[i * n + j] = m[(n - 1 - i) * n + (n - 1 - j)] }
                }
                return Factor(n: n, u: u, importance: (0..<n).map { Float(diagonal[$0] + lambda * mean) })
            }
            lambda *= 10
        }
        throw FactorError(description: "the calibration statistics (\(n)×\(n)) are not positive definite")
    }

    /// a [n, n] → its lower Cholesky factor L (a = L Lᵀ), in place (the upper triangle is left as it was);
    /// false when a pivot is not positive.
    static func choleskyInPlace(_ a: UnsafeMutablePointer<Double>, _ n: Int) -> Bool {
        for i in 0..<n {
            let ri = a + i * n
            for j in 0...i {
                let rj = a + j * n
                let s = ri[j] - dot(ri, rj, j)
                if i == j {
                    guard s > 0, s.isFinite else { return false }
                    ri[i] = s.squareRoot()
                } else {
                    ri[j] = s / rj[j]
                }
            }
        }
        return true
    }

    /// M = L⁻¹ for L lower triangular [n, n]: row i of M is (e_i − Σ_{k<i} L[i,k]·M[k,:]) / L[i,i]. Columns are
    /// independent: ranges of them go to the pool's threads.
    static func invertLower(
        _ l: UnsafePointer<Double>, into m: UnsafeMutablePointer<Double>, _ n: Int, pool: ThreadPool?
    ) {
        m.update(repeating: 0, count: n * n)
        func columns(_ range: Range<Int>) {
            let c0 = range.lowerBound
            for i in c0..<n {
                let row = m + i * n
                let width = min(range.upperBound, i + 1) - c0
                if i < range.upperBound { row[i] = 1 }
                for k in c0..<i {
                    let f = l[i * n + k]
                    if f == 0 { continue }
                    // M[k, c] is 0 for c > k.
                    axpy(-f, m + k * n + c0, row + c0, min(width, k + 1 - c0))
                }
                let inv = 1 / l[i * n + i]
                for c in c0..<(c0 + width) { row[c] *= inv }
            }
        }
        if let pool, n >= 128 {
            pool.parallelChunks(n, granularity: 16) { range, _ in columns(range) }
        } else {
            columns(0..<n)
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
        var acc0 = SIMD8<Double>(), acc1 = SIMD8<Double>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i &+ 16 <= n {
            acc0.addProduct(
                ra.loadUnaligned(fromByteOffset: i &* 8, as: SIMD8<Double>.self),
                rb.loadUnaligned(fromByteOffset: i &* 8, as: SIMD8<Double>.self))
            acc1.addProduct(
                ra.loadUnaligned(fromByteOffset: (i &+ 8) &* 8, as: SIMD8<Double>.self),
                rb.loadUnaligned(fromByteOffset: (i &+ 8) &* 8, as: SIMD8<Double>.self))
            i &+= 16
        }
        var s = (acc0 + acc1).sum()
        while i < n {
            s += a[i] * b[i]
            i &+= 1
        }
        return s
    }

    /// y[0..<n] += alpha · x[0..<n]
    @inline(__always)
    static func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
        var i = 0
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        let va = SIMD8<Double>(repeating: alpha)
        while i &+ 8 <= n {
            var v = ry.loadUnaligned(fromByteOffset: i &* 8, as: SIMD8<Double>.self)
            v.addProduct(va, rx.loadUnaligned(fromByteOffset: i &* 8, as: SIMD8<Double>.self))
            ry.storeBytes(of: v, toByteOffset: i &* 8, as: SIMD8<Double>.self)
            i &+= 8
        }
        while i < n {
            y[i] += alpha * x[i]
            i &+= 1
        }
    }

    /// Rows per tile of the row work.
    static let tileRows = 8

    /// Quantizes `rows` rows of `columns` weights (row-major, `w`) to `type` (.q4_0, groups of 32; or .q4_1, groups
    /// of `groupSize`, each group's scale and offset repeated in its 32-value blocks, as `Quantize.row` stores them),
    /// with the error feedback of `factor` (its n must be `columns`), into `out` (rows × the type's row bytes).
    public static func quantize(
        _ w: UnsafePointer<Float>, rows: Int, columns n: Int, factor: Factor, as type: DType, groupSize: Int = 32,
        into out: UnsafeMutableRawPointer, pool: ThreadPool? = nil
    ) {
        precondition(factor.n == n && n % 32 == 0 && (type == .q4_0 || type == .q4_1), "GPTQ: \(type) [\(rows), \(n)]")
        let group = type == .q4_0 ? 32 : groupSize
        let rowBytes = type.byteCount(elements: n)!
        let tiles = (rows + tileRows - 1) / tileRows
        factor.u.withUnsafeBufferPointer { u in
            factor.importance.withUnsafeBufferPointer { importance in
                let work = { (range: Range<Int>) in
                    for tile in range {
                        let r0 = tile * tileRows
                        quantizeTile(
                            w + r0 * n, rows: min(tileRows, rows - r0), n: n, u: u.baseAddress!,
                            importance: importance.baseAddress!, type: type, group: group, out: out + r0 * rowBytes,
                            rowBytes: rowBytes)
                    }
                }
                if let pool { pool.parallelChunks(tiles) { range, _ in work(range) } } else { work(0..<tiles) }
            }
        }
    }

    /// A group's quantization grid: scale d and offset m (0 for Q4_0), both fp16-exact.
    struct Grid {
        var d: Double
        var m: Double
    }

    static func quantizeTile(
        _ w: UnsafePointer<Float>, rows: Int, n: Int, u: UnsafePointer<Double>, importance: UnsafePointer<Float>,
        type: DType, group: Int, out: UnsafeMutableRawPointer, rowBytes: Int
    ) {
        let symmetric = type == .q4_0
        let tile = UnsafeMutablePointer<Double>.allocate(capacity: rows * n)  // [rows, n] updated weights
        let levels = UnsafeMutablePointer<UInt8>.allocate(capacity: rows * n)  // [rows, n] stored nibbles
        let values = UnsafeMutablePointer<Float>.allocate(capacity: group)
        var grids = [Grid](repeating: Grid(d: 0, m: 0), count: rows * ((n + group - 1) / group))  // [rows, groups]
        var errors = [Double](repeating: 0, count: rows)
        defer {
            tile.deallocate()
            levels.deallocate()
            values.deallocate()
        }
        for i in 0..<(rows * n) { tile[i] = Double(w[i]) }
        let groups = (n + group - 1) / group
        for i in 0..<n {
            let g = i / group
            if i % group == 0 {
                let count = min(group, n - i)
                for r in 0..<rows {
                    for c in 0..<count { values[c] = Float(tile[r * n + i + c]) }
                    let weights = importance + i
                    if symmetric {
                        grids[r * groups + g] = Grid(d: Double(Quantize.q4_0Scale(values, importance: weights)), m: 0)
                    } else {
                        let (d, m) = Quantize.q4_1Parameters(values, count, importance: weights)
                        grids[r * groups + g] = Grid(d: Double(d), m: Double(m))
                    }
                }
            }
            let pivot = u[i * n + i]
            for r in 0..<rows {
                let x = tile[r * n + i]
                let grid = grids[r * groups + g]
                let (level, q) = symmetric ? q4_0Level(x, grid) : q4_1Level(x, grid)
                levels[r * n + i] = level
                errors[r] = (x - q) / pivot
            }
            // w[r, j] −= err[r] · U[i, j] for j > i, each 8 values of U's row loaded once for the tile's rows.
            let uRow = UnsafeRawPointer(u + i * n)
            var j = i + 1
            while j + 8 <= n {
                let uv = uRow.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
                for r in 0..<rows {
                    let p = UnsafeMutableRawPointer(tile + r * n + j)
                    var v = p.loadUnaligned(as: SIMD8<Double>.self)
                    v.addProduct(SIMD8(repeating: -errors[r]), uv)
                    p.storeBytes(of: v, as: SIMD8<Double>.self)
                }
                j += 8
            }
            while j < n {
                let uj = u[i * n + j]
                for r in 0..<rows { tile[r * n + j] -= errors[r] * uj }
                j += 1
            }
        }
        // Encode: each 32-value block carries its group's grid.
        for r in 0..<rows {
            let row = out + r * rowBytes
            for b in 0..<(n / 32) {
                let grid = grids[r * groups + (32 * b) / group]
                let block = row + b * type.blockBytes
                Quantize.storeHalf(Float(grid.d), block)
                if !symmetric { Quantize.storeHalf(Float(grid.m), block + 2) }
                let header = symmetric ? 2 : 4
                let l = levels + r * n + 32 * b
                for k in 0..<16 { block.storeBytes(of: l[k] | l[k + 16] << 4, toByteOffset: header + k, as: UInt8.self) }
            }
        }
    }

    /// Q4_0's stored nibble (level + 8) and value for x on the grid: round to nearest even, levels -8…7.
    @inline(__always) static func q4_0Level(_ x: Double, _ grid: Grid) -> (UInt8, Double) {
        guard grid.d != 0 else { return (8, 0) }
        let level = min(7, max(-8, (x / grid.d).rounded(.toNearestOrEven)))
        return (UInt8(Int(level) + 8), level * grid.d)
    }

    /// Q4_1's level 0…15 and value for x on the grid: round half up (as `Quantize.q4_1Level`), clamped.
    @inline(__always) static func q4_1Level(_ x: Double, _ grid: Grid) -> (UInt8, Double) {
        guard grid.d != 0 else { return (0, grid.m) }
        let level = max(0, min(15, ((x - grid.m) / grid.d + 0.5).rounded(.down)))
        return (UInt8(level), level * grid.d + grid.m)
    }
}
