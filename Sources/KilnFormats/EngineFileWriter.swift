import Foundation
import KilnTensors

#if canImport(Glibc)
    import Glibc
#endif

/// Writes an engine file (layout in `EngineFile`) under a temporary name beside the output and renames it into
/// place only once complete, so a failed build (read-only folder, full disk, bad checkpoint) never leaves a
/// half-written engine where a loader would find it.
///
/// Order: `init` (source sections), `appendTensor` for each tensor, then `finish(metadata:)`; `discard()` on any
/// error removes the temporary file.
public final class EngineFileWriter {
    public let path: String
    let temporaryPath: String
    var fd: Int32
    var offset = 0
    var sections: [EngineFile.Section] = []
    var tensorsStart = 0
    static let maxSections = 32

    public init(path: String, sourceSections: [(name: String, data: Data)]) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        temporaryPath = directory + "/." + url.lastPathComponent + ".partial-\(getpid())"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FormatError(path, "cannot create the engine file in \(directory): \(String(cString: strerror(errno)))")
        }
        guard sourceSections.count + 2 <= Self.maxSections else { throw FormatError(path, "too many sections") }
        do {
            // Header and table are written last; reserve their space.
            try pad(to: EngineFile.headerBytes + Self.maxSections * EngineFile.sectionEntryBytes)
            for s in sourceSections {
                try pad(to: align(offset))
                let start = offset
                try s.data.withUnsafeBytes { try write($0) }
                let checksum = s.data.withUnsafeBytes { Hash64.hash($0) }
                sections.append(.init(name: s.name, offset: start, bytes: s.data.count, checksum: checksum))
            }
            try pad(to: align(offset))
            tensorsStart = offset
        } catch {
            discard()
            throw error
        }
    }

    func align(_ n: Int) -> Int { (n + EngineFile.alignment - 1) / EngineFile.alignment * EngineFile.alignment }

    /// Writes one tensor's bytes at the next aligned offset; returns its offset in the tensors section and checksum.
    public func appendTensor(_ bytes: UnsafeRawBufferPointer) throws -> (offset: Int, checksum: String) {
        try pad(to: align(offset))
        let start = offset - tensorsStart
        try write(bytes)
        return (start, Hash64.hex(Hash64.hash(bytes)))
    }

    public func finish(metadata: EngineMetadata) throws {
        do {
            let tensorsEnd = offset
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = try encoder.encode(metadata)
            try pad(to: align(offset))
            let metaStart = offset
            try json.withUnsafeBytes { try write($0) }
            // The tensors section's checksum, read back through a mapping of what was written.
            guard fsync(fd) == 0 || errno == EINVAL else { throw ioError("cannot flush") }
            let written = try MappedFile(path: temporaryPath)
            let tensorsHash = Hash64.hash(
                UnsafeRawBufferPointer(start: written.base + tensorsStart, count: tensorsEnd - tensorsStart))
            sections.insert(
                .init(name: "tensors", offset: tensorsStart, bytes: tensorsEnd - tensorsStart, checksum: tensorsHash),
                at: 0)
            sections.append(
                .init(name: "metadata", offset: metaStart, bytes: json.count, checksum: json.withUnsafeBytes { Hash64.hash($0) }))
            try writeHeader(fileBytes: offset)
            guard fsync(fd) == 0 || errno == EINVAL else { throw ioError("cannot flush") }
            close(fd)
            fd = -1
            guard rename(temporaryPath, path) == 0 else { throw ioError("cannot rename the finished file into place") }
        } catch {
            discard()
            throw error
        }
    }

    /// Removes the temporary file (after a failure).
    public func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(temporaryPath)
    }

    func writeHeader(fileBytes: Int) throws {
        var header = [UInt8](repeating: 0, count: EngineFile.headerBytes + Self.maxSections * EngineFile.sectionEntryBytes)
        func put<T: FixedWidthInteger>(_ v: T, at o: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { header[o + i] = b } }
        }
        for (i, b) in EngineFile.magic.enumerated() { header[i] = b }
        put(EngineFile.formatVersion, at: 8)
        put(UInt32(sections.count), at: 12)
        put(UInt64(fileBytes), at: 16)
        for (i, s) in sections.enumerated() {
            let e = EngineFile.headerBytes + i * EngineFile.sectionEntryBytes
            for (j, b) in s.name.utf8.prefix(EngineFile.sectionNameBytes - 1).enumerated() { header[e + j] = b }
            put(UInt64(s.offset), at: e + 32)
            put(UInt64(s.bytes), at: e + 40)
            put(s.checksum, at: e + 48)
        }
        let checksum = header.withUnsafeBytes { EngineFile.headerChecksum($0.baseAddress!, sectionCount: sections.count) }
        put(checksum, at: 24)
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw ioError("cannot seek") }
        let end = offset
        offset = 0
        try header.withUnsafeBytes { try write($0) }
        offset = end
    }

    func pad(to target: Int) throws {
        guard target > offset else { return }
        let zeros = [UInt8](repeating: 0, count: target - offset)
        try zeros.withUnsafeBytes { try write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("cannot write")
            }
            done += n
        }
        offset += bytes.count
    }

    func ioError(_ what: String) -> FormatError {
        let reason = errno == ENOSPC ? "no space left on device" : String(cString: strerror(errno))
        return FormatError(path, "\(what): \(reason) (nothing was written)")
    }

    deinit { if fd >= 0 { discard() } }
}
