import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

// Before anything compiled for Haswell runs (the kernels).
if let missing = CPU.missingRequiredFeatures {
    fputs("error: this CPU lacks \(missing), which Unmask's kernels are compiled for (x86_64 from Haswell, 2013, or any AMD Zen)\n", stderr)
    exit(1)
}

// Entry point. Every failure a user can cause ends as one line on stderr,
// `error: <what and where>`, and exit status 1 (help and --version exit 0).
do {
    var command = try UnmaskCommand.parseAsRoot()
    try command.run()
} catch {
    let code = UnmaskCommand.exitCode(for: error)
    if code == .success {
        print(UnmaskCommand.fullMessage(for: error))
        exit(0)
    }
    // A setting's error is spelled as this command line spells settings (`--window`).
    let message = (error as? SettingError)?.message(spelling: SettingError.commandLine) ?? UnmaskCommand.message(for: error)
    if message.isEmpty {
        exit(1)
    }
    // One line: argument-parser's messages can hold a newline before a hint.
    let oneLine = message.split(separator: "\n").map { $0.drop(while: { $0 == " " }) }.joined(separator: " ")
    fputs("error: \(oneLine)\n", stderr)
    exit(1)
}
