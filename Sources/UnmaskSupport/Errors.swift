// One error type for everything a user can cause: bad files, bad numbers, bad text.
// The CLI prints `error: <message>` on one line and exits with status 1, so every
// message names the thing (file, option, token) and the problem.
public struct UnmaskError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
