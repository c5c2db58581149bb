#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a benchmark's figures were measured on, printed before them so that a results file
/// says it by itself: the CPU, the date, the code and the OpenBLAS core. As a text line:
///
///     # cpu: Intel(R) Xeon(R) Processor (family 6 model 207) · date: 2026-12-02 · commit: e9d497e-dirty · openblas core: SkylakeX
///
/// and as JSON fields (`jsonFields`): cpu, cpu_family, cpu_model, date, commit, openblas_core.
/// Every part falls back to "unknown" (or is left out) rather than fail the benchmark.
public struct MachineHeader: Sendable {
    /// The CPU's model name, as `lscpu` prints it ("model name" in /proc/cpuinfo).
    public let cpu: String
    /// Its family and model numbers, where /proc/cpuinfo gives them (x86).
    public let cpuFamily: Int?, cpuModel: Int?
    /// Today in UTC, YYYY-MM-DD.
    public let date: String
    /// `git describe --always --dirty` of the repository the executable lies in, or "unknown".
    public let commit: String
    /// The kernel family OpenBLAS runs (`OpenBLAS.coreName` in UnmaskKernels, after any
    /// OPENBLAS_CORETYPE), given by the caller: this module sits below the kernels.
    public let openBLASCore: String

    public static func current(openBLASCore: String) -> MachineHeader {
        let info = cpuInfo()
        return MachineHeader(cpu: info.name, cpuFamily: info.family, cpuModel: info.model, date: utcDate(),
                             commit: gitDescribe(), openBLASCore: openBLASCore)
    }

    public var line: String {
        var cpuText = cpu
        if let cpuFamily, let cpuModel { cpuText += " (family \(cpuFamily) model \(cpuModel))" }
        return "# cpu: \(cpuText) · date: \(date) · commit: \(commit) · openblas core: \(openBLASCore)"
    }

    public var jsonFields: [(String, JSONValue)] {
        [("cpu", .string(cpu)), ("cpu_family", cpuFamily.map { .int($0) } ?? .null),
         ("cpu_model", cpuModel.map { .int($0) } ?? .null), ("date", .string(date)), ("commit", .string(commit)),
         ("openblas_core", .string(openBLASCore))]
    }

    /// The first processor's "model name", "cpu family" and "model" from /proc/cpuinfo.
    static func cpuInfo() -> (name: String, family: Int?, model: Int?) {
        guard let bytes = try? Files.read("/proc/cpuinfo") else { return ("unknown", nil, nil) }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty && !fields.isEmpty { break }  // the end of the first processor's block
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: " \t"), value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            if fields[key] == nil { fields[key] = value }
        }
        let name = fields["model name"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
        return (name, fields["cpu family"].flatMap { Int($0) }, fields["model"].flatMap { Int($0) })
    }

    static func utcDate() -> String {
        var now = time(nil)
        var parts = tm()
        guard gmtime_r(&now, &parts) != nil else { return "unknown" }
        func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : "\(x)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    /// `git describe --always --dirty` run in the nearest directory above the executable
    /// that holds `.git` (a directory, or a worktree's file): the code this binary was built
    /// from, as it stands now. "unknown" outside a repository, without git, or on any error.
    static func gitDescribe() -> String {
        guard var dir = Files.executableDirectory() else { return "unknown" }
        while !Files.exists(dir + "/.git") {
            guard let slash = dir.lastIndex(of: "/"), slash != dir.startIndex else { return "unknown" }
            dir = String(dir[..<slash])
        }
        let quoted = "'" + dir.replacingAll("'", with: "'\\''") + "'"
        guard let pipe = popen("git -C \(quoted) describe --always --dirty 2>/dev/null", "r") else { return "unknown" }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        let status = pclose(pipe)
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: " \t\n")
        return status == 0 && !text.isEmpty && !text.contains("\n") ? text : "unknown"
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        guard let first = firstIndex(where: { !chars.contains($0) }), let last = lastIndex(where: { !chars.contains($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }

    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
