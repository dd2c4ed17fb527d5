import KilnFormats
import KilnModels
import KilnTensors

/// One tensor-parallel rank's cut of a layer's tensors (`kiln build --tp N`), as `ShardLayout` slices a whole model
/// at load: the rows of Q (and its bias) of the rank's query heads, of K and V of its KV heads, of gate and up of
/// its FFN rows; the input columns of o_proj and down that match them unless the layout keeps those whole. Every
/// other tensor is stored whole. Slices of a quantized row start and end on its format's block boundaries; groups
/// of 64 or 128 values are stored as 32-value blocks each repeating the group's scale, so a slice on 32-value
/// boundaries holds exactly the values of the whole file.
struct ShardCut {
    let layout: ShardLayout

    /// The rows of part `name` this rank keeps (nil: all of them).
    func rows(of name: String) -> Range<Int>? {
        for (suffix, range) in [
            (".attn_q.weight", layout.qColumns), (".attn_q.bias", layout.qColumns),
            (".attn_k.weight", layout.kvRows), (".attn_k.bias", layout.kvRows),
            (".attn_v.weight", layout.kvRows), (".attn_v.bias", layout.kvRows),
            (".ffn_gate.weight", layout.ffn), (".ffn_up.weight", layout.ffn),
        ] where name.hasPrefix("blk.") && name.hasSuffix(suffix) {
            return range
        }
        return nil
    }

    /// The input columns of matrix `name` this rank keeps (nil: all of them).
    func columns(of name: String) -> Range<Int>? {
        guard name.hasPrefix("blk.") else { return nil }
        if name.hasSuffix(".attn_output.weight") { return layout.gatherAttention ? nil : layout.qColumns }
        if name.hasSuffix(".ffn_down.weight") { return layout.gatherFFN ? nil : layout.ffn }
        return nil
    }

    /// `unit`'s bytes (`data`, in `unit.type`'s ggml layout) cut to this rank: the shape and each part's rows of the
    /// result, and its bytes (`data` itself when nothing is cut).
    func cut(_ unit: BuildUnit, _ data: UnitBytes) throws -> (shape: [Int], partRows: [Int], bytes: UnitBytes) {
        let type = unit.type
        let e = type.blockElements
        if unit.shape.count == 1 {
            // A vector (a bias): its elements are the rows.
            guard let range = rows(of: unit.name) else { return (unit.shape, [1], data) }
            guard range.lowerBound % e == 0, range.upperBound % e == 0 else {
                throw BuildError("\(unit.name): elements \(range) of \(unit.shape[0]) cut \(type) blocks of \(e) values")
            }
            let start = range.lowerBound / e * type.blockBytes
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: range.count / e * type.blockBytes, alignment: 64)
            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: data.bytes[start..<start + out.count]))
            return ([range.count], [1], UnitBytes(UnsafeRawBufferPointer(out), owned: true))
        }
        let width = unit.shape[1]
        let kept = columns(of: unit.name) ?? 0..<width
        guard kept.lowerBound % e == 0, kept.upperBound % e == 0 else {
            throw BuildError(
                "\(unit.name): tensor-parallel columns \(kept) of \(width) cut \(type) blocks of \(e) values; "
                    + "use a --tp that splits the heads and FFN rows on block boundaries")
        }
        var selected: [Range<Int>] = []  // runs of the unit's rows, in order
        var partRows: [Int] = []
        var row0 = 0
        for part in unit.parts {
            let n = part.shape.count == 1 ? 1 : part.shape[0]
            let r = rows(of: part.name) ?? 0..<n
            selected.append(row0 + r.lowerBound..<row0 + r.upperBound)
            partRows.append(r.count)
            row0 += n
        }
        let rowCount = partRows.reduce(0, +)
        if rowCount == unit.shape[0], kept.count == width { return (unit.shape, partRows, data) }
        let rowBytes = type.byteCount(elements: width)!
        let keptBytes = type.byteCount(elements: kept.count)!
        let offset = kept.lowerBound / e * type.blockBytes
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, rowCount * keptBytes), alignment: 64)
        var to = out.baseAddress!
        for run in selected {
            for r in run {
                to.copyMemory(from: data.bytes.baseAddress! + r * rowBytes + offset, byteCount: keptBytes)
                to += keptBytes
            }
        }
        return (
            [rowCount, kept.count], partRows,
            UnitBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<rowCount * keptBytes]), owned: true)
        )
    }
}
