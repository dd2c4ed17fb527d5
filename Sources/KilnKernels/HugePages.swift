import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Transparent huge pages for packed weights. Decode streams every weight once per token, and 2 MiB pages cut
/// the TLB misses of that stream and let the hardware prefetcher run past 4 KiB boundaries (Qwen2.5-0.5B tg128:
/// about +8 %). But with THP defrag set to `madvise` (Debian's default) a huge-page fault that finds no free
/// 2 MiB block compacts memory synchronously, which once made loading a 0.5 B model take 20 s instead of 1 s on a
/// machine whose page cache filled its memory. So a matrix asks for huge pages only when the kernel already holds
/// enough free 2 MiB blocks (order ≥ 9 in /proc/buddyinfo) to back it with room to spare: then no fault compacts.
/// `KILN_HUGE_PAGES=0` turns this off.
public enum HugePages {
    public static let size = 2 << 20
    /// Bytes kept free in 2 MiB blocks beyond the matrix itself.
    static let margin = 256 << 20

    static let enabled: Bool = {
        if let v = getenv("KILN_HUGE_PAGES"), String(cString: v) == "0" { return false }
        guard let mode = read("/sys/kernel/mm/transparent_hugepage/enabled") else { return false }
        return !mode.contains("[never]")
    }()

    /// Whether a fresh allocation of `bytes` should be 2 MiB aligned and advised MADV_HUGEPAGE.
    public static func worthAsking(bytes: Int) -> Bool {
        guard enabled, bytes >= size, let free = freeHugeBlockBytes() else { return false }
        return free >= bytes + margin
    }

    /// `bytes` of fresh memory, 4 KiB aligned, and on huge pages when `worthAsking` says so; release with `free`.
    public static func allocate(bytes: Int) -> UnsafeMutableRawPointer? {
        let huge = worthAsking(bytes: bytes)
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, huge ? size : 4096, bytes) == 0, let raw else { return nil }
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        return raw
    }

    /// Packed matrices under half this size share regions of it, so that those under 2 MiB (all of SmolLM2's
    /// layers) stream from huge pages too: on 4 KiB pages, each 4 KiB of a small matrix cost a TLB miss (a
    /// two-level walk on a VM) and restarted the hardware prefetcher, which held 8 decode streams' gate and up
    /// projections of SmolLM2 to ~60 % of the rate of its output matrix (30 MB, on huge pages), per element.
    static let regionSize = 32 << 20

    /// The region small matrices are carved from, while any matrix in it lives.
    private static let current = Mutex<WeakRegion>(WeakRegion())

    /// `bytes` of fresh memory for a packed matrix, 64-byte aligned, and the object that keeps it alive: a slice of
    /// a shared huge-page region (released with the last matrix in it) when the matrix is under half a region and
    /// huge pages are worth asking for, else an allocation of its own (`allocate`; the owner frees it).
    public static func allocateShared(bytes: Int) -> (memory: UnsafeMutableRawPointer, region: AnyObject?)? {
        let slice = (bytes + 63) & ~63
        if slice <= regionSize / 2 {
            let carved: (UnsafeMutableRawPointer, AnyObject)? = current.withLock { weak in
                if let region = weak.value, let memory = region.take(slice) { return (memory, region) }
                guard worthAsking(bytes: regionSize), let region = Region(bytes: regionSize),
                    let memory = region.take(slice)
                else { return nil }
                weak.value = region
                return (memory, region)
            }
            if let carved { return (carved.0, carved.1) }
        }
        return allocate(bytes: bytes).map { ($0, nil) }
    }

    /// A 2 MiB-aligned allocation advised MADV_HUGEPAGE, handed out front to back; freed when the last matrix
    /// holding it goes. Pages never handed out are never touched, so they cost no memory.
    final class Region: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let capacity: Int
        private var used = 0

        init?(bytes: Int) {
            var raw: UnsafeMutableRawPointer? = nil
            guard posix_memalign(&raw, HugePages.size, bytes) == 0, let raw else { return nil }
            _ = madvise(raw, bytes, MADV_HUGEPAGE)
            base = raw
            capacity = bytes
        }

        /// The next `bytes` (a multiple of 64), or nil when they do not fit. Called under `current`'s lock.
        func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
            guard used + bytes <= capacity else { return nil }
            defer { used += bytes }
            return base + used
        }

        deinit { free(base) }
    }

    final class WeakRegion: @unchecked Sendable {
        weak var value: Region?
    }

    /// Bytes the buddy allocator holds free in blocks of 2 MiB or more (orders 9 and up of 4 KiB pages), over all
    /// zones; nil when /proc/buddyinfo cannot be read.
    public static func freeHugeBlockBytes() -> Int? {
        read("/proc/buddyinfo").map(freeHugeBlockBytes(buddyinfo:))
    }

    /// `freeHugeBlockBytes` of the text of a /proc/buddyinfo.
    public static func freeHugeBlockBytes(buddyinfo text: String) -> Int {
        var total = 0
        for line in text.split(separator: "\n") {
            // "Node 0, zone   Normal  c0 c1 … c10": counts of free blocks of 2^order pages.
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let zone = fields.firstIndex(of: "zone") else { continue }
            let counts = fields[(zone + 2)...].compactMap { Int($0) }
            for (order, count) in counts.enumerated() where order >= 9 { total += count << (order + 12) }
        }
        return total
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
