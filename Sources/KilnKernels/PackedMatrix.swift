import CKilnKernels
import KilnTensors

#if canImport(Glibc)
    import Glibc
#endif

/// A weight matrix copied once into the layout of the AVX-512 VNNI kernels (CKilnKernels/pack.c): the blocks of
/// each row interleaved so that every integer product lane belongs to one block, which removes the per-block
/// shuffles of ggml's layout. Same bytes as the GGUF format (K-quants: +1.6 %), in anonymous memory, on huge
/// pages where free ones exist (`HugePages`; matrices under 16 MiB share regions of them).
public final class PackedMatrix: @unchecked Sendable {
    public let type: DType
    public let rows: Int
    public let k: Int
    public let rowBytes: Int
    let data: UnsafeMutableRawPointer
    let byteCount: Int
    /// False when `data` is borrowed (an engine file's mapping) or lives in a shared huge-page region.
    let owned: Bool
    /// The huge-page region `data` was carved from (`HugePages.allocateShared`), kept alive with this matrix.
    let region: AnyObject?

    /// Packs `rows` rows of `k` values (ggml layout, `rowBytes` apart), splitting the work across `pool`; nil when
    /// this CPU lacks the format's packed kernel (`runs`).
    public init?(type: DType, weights: UnsafeRawPointer, rowBytes sourceRowBytes: Int, rows: Int, k: Int, pool: ThreadPool) {
        guard PackedMatrix.runs(type) else { return nil }
        let packedRow = Int(kiln_packed_row_bytes(type.rawValue, Int64(k)))
        guard packedRow > 0, rows > 0 else { return nil }
        self.type = type
        self.rows = rows
        self.k = k
        rowBytes = packedRow
        byteCount = packedRow * rows
        guard let (raw, region) = HugePages.allocateShared(bytes: byteCount) else { return nil }
        data = raw
        self.region = region
        owned = region == nil
        pool.parallelFor(rows, granularity: 64) { range, _ in
            kiln_pack_rows(
                type.rawValue, weights, sourceRowBytes, Int64(range.lowerBound), Int64(range.upperBound), Int64(k), raw)
        }
    }

    /// A matrix already in the packed layout (an engine file's mapping), borrowed in place: the caller keeps the
    /// memory alive. nil when this CPU lacks the kernels, or when the stored bytes are not this Kiln's layout: its
    /// first row must equal row 0 of `ggml` (the same matrix in ggml's layout, `ggmlRowBytes` a row) packed now,
    /// which catches a file written by a Kiln with another packed layout at the cost of packing one row.
    public init?(
        type: DType, packed: UnsafeRawPointer, rowBytes: Int, rows: Int, k: Int, ggml: UnsafeRawPointer,
        ggmlRowBytes: Int
    ) {
        guard PackedMatrix.runs(type), rows > 0,
            rowBytes == PackedMatrix.packedRowBytes(type: type, k: k), rowBytes > 0
        else { return nil }
        var first = [UInt8](repeating: 0, count: rowBytes)
        first.withUnsafeMutableBytes { kiln_pack_rows(type.rawValue, ggml, ggmlRowBytes, 0, 1, Int64(k), $0.baseAddress!) }
        guard first.withUnsafeBytes({ memcmp($0.baseAddress!, packed, rowBytes) }) == 0 else { return nil }
        self.type = type
        self.rows = rows
        self.k = k
        self.rowBytes = rowBytes
        byteCount = rowBytes * rows
        owned = false
        region = nil
        data = UnsafeMutableRawPointer(mutating: packed)
    }

    /// Whether this CPU runs the packed kernel of `type`: AVX-512 VNNI, plus GFNI for Q5_0 and Q5_1.
    public static func runs(_ type: DType) -> Bool { kiln_packed_runs(type.rawValue) != 0 }

    /// Bytes of one packed row of `k` values of `type`; 0 when the format has no packed layout.
    public static func packedRowBytes(type: DType, k: Int) -> Int { Int(kiln_packed_row_bytes(type.rawValue, Int64(k))) }

    /// Packs `rows` rows (ggml layout, `rowBytes` apart) into `out` (`rows × packedRowBytes` bytes), on any CPU:
    /// what an engine build stores.
    public static func pack(
        type: DType, weights: UnsafeRawPointer, rowBytes: Int, rows: Int, k: Int, into out: UnsafeMutableRawPointer,
        pool: ThreadPool
    ) {
        pool.parallelFor(rows, granularity: 64) { range, _ in
            kiln_pack_rows(
                type.rawValue, weights, rowBytes, Int64(range.lowerBound), Int64(range.upperBound), Int64(k), out)
        }
    }

    deinit { if owned { free(data) } }

    /// Y[t * yStride + r] = Σ_i w[r, i] · x̂[t, i] for every token of `x` and r in `rows`.
    public func matmul(rows: Range<Int>, x: Q8Activations, y: UnsafeMutablePointer<Float>, yStride: Int) {
        precondition(x.k == k, "activations of \(x.k) values against rows of \(k)")
        kiln_matmul_packed(
            type.rawValue, data, Int64(rows.lowerBound), Int64(rows.upperBound), x.raw, Int64(k), Int64(x.tokens), y,
            Int64(yStride))
    }
}
