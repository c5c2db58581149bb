#if canImport(Glibc)
import Glibc
#endif

/// Reads a text file one line at a time, in bounded memory: JSONL inputs (samples,
/// `compare --json` rows) can have any number of lines, but no line may be longer than
/// `maxLineBytes`, so one enormous line is an error that names the limit instead of
/// gigabytes of parsing. Lines are returned without their "\n" (and without a "\r" before it).
public final class LineReader {
    public let path: String
    public let maxLineBytes: Int
    /// 1-based number of the line `next()` returned last.
    public private(set) var lineNumber = 0
    let fd: Int32
    var buffer: [UInt8] = []
    var start = 0
    var atEnd = false
    var chunk = [UInt8](repeating: 0, count: 1 << 16)

    /// 4 MiB: a 100 000-token sample written as JSON ids and text is about 1 MB, and
    /// parsing a line costs about 30 times its size in memory.
    public static let defaultMaxLineBytes = 4 << 20

    public init(path: String, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws {
        self.path = path
        self.maxLineBytes = maxLineBytes
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw UnmaskError("cannot open \(path): \(Files.errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw UnmaskError("cannot stat \(path): \(Files.errnoText())")
        }
        do { try Files.requireReadable(st, path) } catch { close(fd); throw error }
    }

    deinit { close(fd) }

    /// The next line, or nil at the end of the file.
    public func next() throws -> ArraySlice<UInt8>? {
        var scanned = start  // bytes before this hold no newline: never scan them twice
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 0x0A) {
                try checkLength(newline - start)
                var line = buffer[start..<newline]
                start = newline + 1
                if line.last == 0x0D { line = line.dropLast() }
                lineNumber += 1
                return line
            }
            try checkLength(buffer.count - start)
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                lineNumber += 1
                return line
            }
            // Keep only the unfinished line, then read more.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            scanned = buffer.count
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw UnmaskError("cannot read \(path): \(Files.errnoText())")
            }
            if n == 0 { atEnd = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }

    func checkLength(_ count: Int) throws {
        if count > maxLineBytes {
            throw UnmaskError("\(path): line \(lineNumber + 1) is longer than the limit of \(Files.byteCount(maxLineBytes))")
        }
    }
}
