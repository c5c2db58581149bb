#if canImport(Glibc)
import Glibc
#endif
import Unmask

/// What every fuzz target shares: its input as bytes, a scratch file or folder for the
/// loaders that read paths (in /dev/shm when it exists, so no disk is touched), the
/// bundled tokenizer, and a failure that libFuzzer records as a crash with its input.
public enum Fuzz {
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// A property the input broke: printed, then abort(), which libFuzzer reports as a
    /// crash and saves the input for.
    public static func fail(_ message: String) -> Never {
        let line = Array("property violated: \(message)\n".utf8)
        _ = line.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count) }
        abort()
    }

    public static let scratch: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let dir = "\(base)/unmask-fuzz-\(getpid())"
        mkdir(dir, 0o755)
        return dir
    }()

    /// Writes `bytes` to `scratch/name` (plain write, no fsync: thousands a second).
    @discardableResult
    public static func write(_ bytes: [UInt8], to name: String) -> String {
        let path = scratch + "/" + name
        guard let f = fopen(path, "wb") else { fail("cannot write \(path)") }
        if !bytes.isEmpty { _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) } }
        fclose(f)
        return path
    }

    /// Splits an input into `count` parts at the byte sequence "\n--\n" (a libFuzzer
    /// dictionary entry), so one input can fill several files.
    public static func parts(_ bytes: [UInt8], count: Int) -> [[UInt8]] {
        let separator: [UInt8] = Array("\n--\n".utf8)
        var out: [[UInt8]] = [], current: [UInt8] = [], i = 0
        while i < bytes.count {
            if out.count < count - 1, i + separator.count <= bytes.count, Array(bytes[i..<(i + separator.count)]) == separator {
                out.append(current); current = []; i += separator.count
            } else { current.append(bytes[i]); i += 1 }
        }
        out.append(current)
        while out.count < count { out.append([]) }
        return out
    }

    /// The bundled vocab/tokenizer.json, from the repository this package sits in.
    public static let bundledTokenizer: Tokenizer = {
        let repository = String("\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(4)
            .joined(separator: "/"))
        do { return try Tokenizer.load(path: repository + "/vocab/tokenizer.json") } catch { fail("bundled tokenizer: \(error)") }
    }()
}
