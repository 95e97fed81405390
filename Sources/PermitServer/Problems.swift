import Foundation
import Hummingbird
import NIOCore
import PermitModel

/// An RFC 9457 problem: `type`, `title`, `status`, `detail`, plus the project's `code`, `field`,
/// `value` and `rule` (the CLI's error object, so a client maps one onto the other).
struct ProblemDetails: Encodable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var code: String
    var field: String?
    var value: String?
    var rule: String?
    /// Every problem, when a refusal has more than one (the first is also the fields above).
    var errors: [Problem]?
}

/// A refusal that a route throws; `ProblemMiddleware` and Hummingbird turn it into the response.
struct HTTPProblem: HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var details: ProblemDetails
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, detail: String, field: String? = nil, value: String? = nil,
         rule: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        // A URN: stable and resolvable by no one, so no client follows it to a host we do not run.
        details = ProblemDetails(type: "urn:freight-permit:problem:\(code)", title: status.reasonPhrase, status: status.code,
                                 detail: detail, code: code, field: field, value: value, rule: rule)
        self.headers = headers
    }

    /// The first problem of a service error, with the HTTP status it maps to.
    init(_ status: HTTPResponse.Status, _ problem: Problem) {
        self.init(status, code: problem.code, detail: problem.message, field: problem.field, value: problem.value, rule: problem.rule)
    }

    /// A refusal of the service: the status its first code maps to, and every problem.
    init(service problems: [Problem]) {
        let first = problems.first ?? Problem(code: "server.internal", message: "the request was refused")
        self.init(Self.status(for: first.code), first)
        if problems.count > 1 { details.errors = problems }
    }

    /// The HTTP status of a service refusal, by its stable code.
    static func status(for code: String) -> HTTPResponse.Status {
        switch code {
        case "store.full": return .init(code: 507, reasonPhrase: "Insufficient Storage")
        // keys.issuerStale: this instance lacks the issuer key the database publishes as current
        // (another instance rotated it); another instance, or this one once the key file is copied, can seal.
        case "store.busy", "store.io", "data.notInitialised", "keys.issuerStale": return .serviceUnavailable
        case "request.replayed", "decision.alreadyDecided", "blacklist.duplicate", "permit.alreadyRevoked", "init.exists", "authority.exists":
            return .conflict
        case "backup.unsupported": return .notImplemented
        default:
            if code.hasPrefix("auth.") { return .forbidden }
            if code.hasSuffix(".notFound") || code.hasSuffix(".unknown") { return .notFound }
            if code.hasPrefix("page.") || code.hasSuffix(".malformed") { return .badRequest }
            return .init(code: 422, reasonPhrase: "Unprocessable Content")
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response(head: request.method == .head)
    }

    func response(head: Bool = false) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(details)) ?? Data()
        var fields = headers
        fields[.contentType] = "application/problem+json"
        fields[.contentLength] = String(body.count)
        return Response(status: status, headers: fields, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Every error leaves the server as problem+json: the router's own 404 and 405, Hummingbird's
/// HTTP errors, and anything unexpected (500, without internals in the detail).
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The router's routes, read when the router's own 404 arrives: a path that a route answers
    /// for other methods is 405 with `Allow` (RFC 9110, 15.5.6), not 404.
    var routes = RouteTable()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else {
                return HTTPProblem(.notFound, code: "http.notFound", detail: "no resource at \(request.uri.path)", field: "path",
                                   value: request.uri.path).response(head: request.method == .head)
            }
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            return HTTPProblem(.methodNotAllowed, code: "http.methodNotAllowed",
                               detail: "\(request.method.rawValue) is not allowed on \(request.uri.path); it takes \(allow)",
                               field: "method", value: request.method.rawValue, rule: "one of \(allow)",
                               headers: [.allow: allow]).response(head: request.method == .head)
        } catch let problem as HTTPProblem {
            return problem.response(head: request.method == .head)
        } catch let error as any ProblemConvertible {
            return HTTPProblem(service: error.problems).response(head: request.method == .head)
        } catch let error as any HTTPResponseError {
            let status = error.status
            let code = status == .notFound ? "http.notFound" : status == .methodNotAllowed ? "http.methodNotAllowed" : "http.\(status.code)"
            let detail = status == .notFound ? "no resource at \(request.uri.path)"
                : status == .methodNotAllowed ? "\(request.method.rawValue) is not allowed on \(request.uri.path)" : status.reasonPhrase
            return HTTPProblem(status, code: code, detail: detail, field: status == .notFound ? "path" : nil,
                               value: status == .notFound ? request.uri.path : nil).response(head: request.method == .head)
        } catch {
            context.logger.error("\(request.method) \(request.uri.path): \(error)")
            return HTTPProblem(.internalServerError, code: "server.internal", detail: "the server could not answer this request")
                .response(head: request.method == .head)
        }
    }
}

/// The method of each route pattern, filled once the router's routes are registered and read by
/// `ProblemMiddleware` for 405's `Allow`.
final class RouteTable: @unchecked Sendable {
    private var routes: [(path: RouterPath, method: HTTPRequest.Method)] = []
    private let lock = NSLock()

    func fill<C>(from router: Router<C>) {
        lock.withLock { routes = router.routes.map { ($0.path, $0.method) } }
    }

    /// The methods of every route whose pattern matches `path`, in a fixed order.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let table = lock.withLock { routes }
        var found: Set<String> = []
        var methods: [HTTPRequest.Method] = []
        for route in table where Self.matches(route.path.components, segments) && found.insert(route.method.rawValue).inserted {
            methods.append(route.method)
        }
        // HEAD is generated for every GET (autoGenerateHeadEndpoints) without being listed.
        if found.contains("GET") && !found.contains("HEAD") { methods.append(.head) }
        return methods.sorted { $0.rawValue < $1.rawValue }
    }

    static func matches(_ pattern: [RouterPath.Element], _ segments: [Substring]) -> Bool {
        var i = 0
        for element in pattern {
            if element == .recursiveWildcard { return true }
            guard i < segments.count, element ~= segments[i] else { return false }
            i += 1
        }
        return i == segments.count
    }
}
