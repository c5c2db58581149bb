#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// File I/O on POSIX calls, so that every failure becomes an UnmaskError that names the
// file, and so that writes are atomic: we write `<path>.tmp-<pid>`, fsync it, and
// rename(2) it over the target. A reader (or a crash, or `kill -9`) sees either the old
// file or the new one, never a torn one.

public enum Files {
    public static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Reads a whole file. `limit` guards against being handed something enormous.
    public static func read(_ path: String, limit: Int = 1 << 34) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw UnmaskError("cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw UnmaskError("cannot stat \(path): \(errnoText())") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw UnmaskError("\(path) is a directory, expected a file") }
        var out: [UInt8] = []
        if st.st_size > 0 {
            guard Int(st.st_size) <= limit else { throw UnmaskError("\(path) is too large (\(st.st_size) bytes)") }
            out.reserveCapacity(Int(st.st_size))
        }
        try readAll(fd, into: &out, limit: limit, name: path)
        return out
    }

    /// Reads `fd` to its end, appending to `out`; errors name `name`.
    static func readAll(_ fd: Int32, into out: inout [UInt8], limit: Int, name: String) throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw UnmaskError("cannot read \(name): \(errnoText())")
            }
            if n == 0 { return }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw UnmaskError("\(name) is too large (over \(limit) bytes)") }
        }
    }

    /// Reads all of standard input.
    public static func readStandardInput(limit: Int = 1 << 32) throws -> [UInt8] {
        var out: [UInt8] = []
        try readAll(0, into: &out, limit: limit, name: "standard input")
        return out
    }

    /// Writes `bytes` to `path` atomically (temp file + fsync + rename).
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try writeAtomically(chunks: [$0], to: path) }
    }

    /// Writes several buffers back to back, atomically. Used for safetensors (header,
    /// then tensor data) without first concatenating everything in memory.
    public static func writeAtomically(chunks: [UnsafeRawBufferPointer], to path: String) throws {
        let tmp = "\(path).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw UnmaskError("cannot write \(path): \(errnoText())") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp) }
        }
        for chunk in chunks {
            var offset = 0
            while offset < chunk.count {
                let n = Glibc.write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw UnmaskError("cannot write \(path): \(errnoText())")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw UnmaskError("cannot write \(path): fsync: \(errnoText())") }
        ok = true
        close(fd)
        guard rename(tmp, path) == 0 else {
            let text = errnoText()
            unlink(tmp)
            throw UnmaskError("cannot write \(path): rename: \(text)")
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates a directory and its parents (like `mkdir -p`).
    public static func createDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if !isDirectory(prefix) && mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw UnmaskError("cannot create directory \(prefix): \(errnoText())")
            }
            prefix += "/"
        }
    }

    /// Directory of the running executable (via /proc/self/exe), used to find the
    /// bundled `vocab/` and `models/` when the tool is run from another directory.
    public static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }

    /// Finds a bundled resource such as "vocab/tokenizer.json": first relative to the
    /// current directory, then in the directories above the executable (a build puts it
    /// in `<repo>/.build/<config>/unmask`).
    public static func locateResource(_ relative: String) -> String? {
        if exists(relative) { return relative }
        guard var dir = executableDirectory() else { return nil }
        for _ in 0..<6 {
            let candidate = dir + "/" + relative
            if exists(candidate) { return candidate }
            guard let slash = dir.lastIndex(of: "/"), slash != dir.startIndex else { break }
            dir = String(dir[..<slash])
        }
        return nil
    }
}
