import UnmaskSupport

/// An error the server answers with: an HTTP status and OpenAI's error object,
/// `{"error": {"message", "type", "param", "code"}}`, so that OpenAI clients raise it as
/// theirs (`openai.BadRequestError` and so on) with the message intact.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let type: String
    /// The request field at fault (`"logit_bias"`, `"unmask.sampler"`), if one is.
    public let param: String?
    public let code: String?
    public let message: String

    public init(status: Int, type: String, param: String? = nil, code: String? = nil, _ message: String) {
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// A 400 about one field.
    public static func invalid(_ param: String?, _ message: String, code: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", param: param, code: code, message)
    }

    public var jsonValue: JSONValue {
        JSON.objectValue([("error", JSON.objectValue([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map { .string($0) } ?? .null), ("code", code.map { .string($0) } ?? .null),
        ]))])
    }

    public var json: String { jsonValue.serialized() }

    public static func notFound(_ what: String) -> APIError {
        APIError(status: 404, type: "invalid_request_error", code: "not_found", what)
    }
    public static func methodNotAllowed(_ method: String, _ path: String, allowed: [String]) -> APIError {
        APIError(status: 405, type: "invalid_request_error", code: "method_not_allowed",
                 "\(method) is not allowed on \(path) (allowed: \(allowed.joined(separator: ", ")))")
    }
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: 413, type: "invalid_request_error", code: "request_too_large",
                 "the request body is over the limit of \(limit) bytes")
    }
    public static func busy(queued: Int, retryAfter: Int) -> APIError {
        APIError(status: 503, type: "server_error", code: "queue_full",
                 "the server is at capacity (\(queued) requests queued); retry after \(retryAfter) s")
    }
    public static let unauthorized = APIError(status: 401, type: "invalid_request_error", code: "invalid_api_key",
                                              "missing or wrong API key (send Authorization: Bearer KEY)")
    public static let loading = APIError(status: 503, type: "server_error", code: "loading", "the model is loading")
}
