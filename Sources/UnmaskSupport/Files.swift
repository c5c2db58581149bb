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

    /// The largest file `read` takes unless told otherwise: 1 GiB. Every text Unmask reads
    /// whole (a corpus file, held-out text, a tokenizer) is far smaller; the limit is there
    /// so that a wrong path (`/dev/zero`, a disk image) fails at once instead of eating memory.
    public static let defaultReadLimit = 1 << 30

    /// Reads a whole file. Regular files and pipes (`<(command)`) are read, up to `limit`
    /// bytes; directories, devices and sockets are refused, since none of them is a file
    /// of text or numbers.
    public static func read(_ path: String, limit: Int = defaultReadLimit) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw UnmaskError("cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw UnmaskError("cannot stat \(path): \(errnoText())") }
        try requireReadable(st, path)
        var out: [UInt8] = []
        if st.st_size > 0 {
            guard Int(st.st_size) <= limit else {
                throw UnmaskError("\(path) is too large (\(st.st_size) bytes; the limit is \(byteCount(limit)))")
            }
            out.reserveCapacity(Int(st.st_size))
        }
        try readAll(fd, into: &out, limit: limit, name: path)
        return out
    }

    /// Refuses what is not a regular file or a pipe, naming what it is.
    static func requireReadable(_ st: stat, _ path: String) throws {
        switch st.st_mode & S_IFMT {
        case S_IFREG, S_IFIFO: return
        case S_IFDIR: throw UnmaskError("\(path) is a directory, expected a file")
        case S_IFCHR: throw UnmaskError("\(path) is a character device, expected a file")
        case S_IFBLK: throw UnmaskError("\(path) is a block device, expected a file")
        case S_IFSOCK: throw UnmaskError("\(path) is a socket, expected a file")
        default: throw UnmaskError("\(path) is not a regular file")
        }
    }

    /// "1 GiB", "4 MiB", "512 bytes": limits as a user would write them.
    public static func byteCount(_ n: Int) -> String {
        if n >= 1 << 30 && n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
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
            if out.count > limit { throw UnmaskError("\(name) is too large (over the limit of \(byteCount(limit)))") }
        }
    }

    /// Reads all of standard input.
    public static func readStandardInput(limit: Int = defaultReadLimit) throws -> [UInt8] {
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
        try writeAtomically(to: path) { write in for chunk in chunks { try write(chunk) } }
    }

    /// Writes whatever `produce` hands to its `write` function, in order, atomically (a
    /// temporary file, fsync, rename): for files too large to hold in memory at once.
    public static func writeAtomically(to path: String,
                                       _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let tmp = "\(path)\(temporarySuffix)\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw UnmaskError("cannot write \(path): \(errnoText())") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp) }
        }
        try produce { chunk in
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

    /// The names in a directory (without "." and ".."), or nil if it cannot be listed.
    public static func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// True if both paths name the same file (same device and inode): `a/../b` and a
    /// symbolic link to `b` are `b`. False if either does not exist.
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Checks, before any long computation, that `path` can be written as a file: its
    /// directory exists and is writable, and `path` itself is not a directory or a
    /// read-only file. Errors name the path and the reason. Nothing is created.
    public static func checkWritableFile(_ path: String, what: String = "output") throws {
        if isDirectory(path) { throw UnmaskError("\(what) \(path) is a directory, expected a file name") }
        if exists(path) && access(path, W_OK) != 0 {
            throw UnmaskError("cannot write \(what) \(path): \(errnoText())")
        }
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let parent = dir.isEmpty ? "/" : dir
        guard isDirectory(parent) else { throw UnmaskError("cannot write \(what) \(path): directory \(parent) does not exist") }
        guard access(parent, W_OK) == 0 else { throw UnmaskError("cannot write \(what) \(path): \(parent): \(errnoText())") }
    }

    /// The suffix `writeAtomically` gives its temporary files: `.tmp-<pid>`.
    static let temporarySuffix = ".tmp-"

    /// Removes the temporary files (`NAME.tmp-PID`) that an atomic write killed half-way
    /// left in `directory`, where process PID no longer exists. A live PID's file may be
    /// another run's write in progress, so it is kept. Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> [String] {
        guard let names = directoryEntries(directory) else { return [] }
        var removed: [String] = []
        for name in names {
            guard let range = name.ranges(of: temporarySuffix).last,
                  let pid = Int32(name[range.upperBound...]), pid > 0 else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // that process is alive
            if unlink(directory + "/" + name) == 0 { removed.append(name) }
        }
        return removed
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

    /// The canonical path (every symbolic link followed, via realpath) of `path`; nil
    /// when it does not exist or a link in it leads nowhere. Opens nothing.
    public static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The file `name` of the model folder `folder`, checked to stay inside it before
    /// anything opens it: after following symbolic links it must lie in the folder, or,
    /// when the folder is a Hugging Face cache snapshot (`<repository>/snapshots/<revision>`,
    /// what `huggingface-cli download` leaves without `--local-dir`, whose files are links
    /// into `<repository>/blobs/`), in that repository's `blobs/`. Any other link out of the
    /// folder is refused with one line. A file that does not exist is returned as given,
    /// for the caller to name as missing; a link that leads nowhere is refused.
    public static func insideFolder(_ name: String, of folder: String) throws -> String {
        let path = folder + "/" + name
        var info = stat()
        guard lstat(path, &info) == 0 else { return path }
        guard let root = canonicalPath(folder) else { throw UnmaskError("cannot resolve the folder \(folder): \(errnoText())") }
        guard let target = canonicalPath(path) else {
            throw UnmaskError("\(path) is a symbolic link that leads nowhere")
        }
        if target.hasPrefix(root + "/") { return target }
        let parts = root.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count >= 3, parts[parts.count - 2] == "snapshots" {
            let blobs = parts.dropLast(2).joined(separator: "/") + "/blobs/"
            if target.hasPrefix(blobs) { return target }
        }
        throw UnmaskError("\(path) leads outside the model folder, to \(target): refused (only a Hugging Face cache snapshot's links into its repository's blobs/ are followed)")
    }

    /// `insideFolder` for each of `names` that the folder holds.
    public static func checkInsideFolder(_ names: [String], of folder: String) throws {
        for name in names { _ = try insideFolder(name, of: folder) }
    }
}
