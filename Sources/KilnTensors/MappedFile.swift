#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory map of a whole file. Tensor data is read in place from the page cache: nothing is copied
/// at load time, and several processes mapping the same file share its pages.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let count: Int
    /// Another mapping this one is a view into (nil when it owns its mapping).
    let parent: MappedFile?

    public enum Failure: Error, CustomStringConvertible {
        case cannotOpen(path: String, reason: String)
        case cannotMap(path: String, reason: String)

        public var description: String {
            switch self {
            case .cannotOpen(let path, let reason): return "\(path): cannot open: \(reason)"
            case .cannotMap(let path, let reason): return "\(path): cannot memory-map: \(reason)"
            }
        }
    }

    public init(path: String) throws {
        self.path = path
        parent = nil
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure.cannotOpen(path: path, reason: "not a regular file") }
        count = Int(info.st_size)
        if count == 0 {
            // mmap rejects empty lengths; keep a valid pointer so readers report "truncated" instead.
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw Failure.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
    }

    /// A view of `count` bytes at `offset` inside `parent` (an embedded file), kept alive by this view.
    public init(view parent: MappedFile, offset: Int, count: Int, path: String) {
        precondition(offset >= 0 && count >= 0 && offset + count <= parent.count, "view outside its parent mapping")
        self.path = path
        self.parent = parent
        self.base = parent.base + offset
        self.count = count
    }

    deinit {
        if parent != nil { return }
        if count == 0 {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        }
    }

    /// Asks the kernel to read ahead the given range (weights about to be streamed).
    public func adviseWillNeed(offset: Int = 0, count: Int? = nil) {
        guard self.count > 0 else { return }
        let n = count ?? (self.count - offset)
        let pageMask = 4095
        let start = offset & ~pageMask
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), n + (offset - start), MADV_WILLNEED)
    }
}
