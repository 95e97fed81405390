import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PermitAPI
import PermitHTTPSignature
import PermitModel
import PermitSeal

/// One server's HTTP transport: requests signed per service.md, answers read in full, refusals
/// turned back into the project's `Problem`s.
struct Transport: Sendable {
    /// `scheme://host[:port]`, the port left out when it is the scheme's default.
    let base: String
    /// `host[:port]` as sent in the Host field and signed in `@target-uri`.
    let authority: String
    let timeout: TimeInterval
    /// One client for the process. A connection that cannot be made fails the request at once
    /// (refused) or after 10 s (no answer), instead of being retried until the request's
    /// deadline: a command line says so and the user decides; a retry is always safe. Up to 64
    /// connections a server, so that a process acting for many parties at once (the server
    /// bench) gives each its own connection instead of queueing behind the default 8.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The largest answer read (a page of 1,000 applications with their documents fits easily).
    static let maxResponseBytes = 256 << 20

    init(server: String, timeout: TimeInterval) throws {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil else {
            throw Problem(code: "server.url", message: "--server \(server) is not a server URL such as http://127.0.0.1:8080 or https://permits.example.gov.cn",
                          field: "server", value: server, rule: "http:// or https://, a host, an optional port, no path")
        }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        authority = url.port.map { $0 == defaultPort ? shownHost : "\(shownHost):\($0)" } ?? shownHost
        base = "\(scheme)://\(authority)"
        self.timeout = timeout
    }

    /// A finished exchange.
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Sends one request, signed by `signer` when given. `headers` are added unsigned, each
    /// replacing a default of the same name (`Accept`).
    func send(_ method: String, _ pathAndQuery: String, body: Data = Data(), contentType: String? = nil,
              headers: [(String, String)] = [], signer: PartySigner?) async throws -> Answer {
        var request = HTTPClientRequest(url: base + pathAndQuery)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Host", value: authority)
        request.headers.add(name: "Accept", value: "application/json, application/problem+json")
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let signer {
            var message = RequestMessage(method: method, targetURI: base + pathAndQuery,
                                         headerFields: contentType.map { [("Content-Type", $0)] } ?? [], body: Array(body))
            try RequestSignature.sign(&message, with: signer.key, created: Int64(signer.clock.now().timeIntervalSince1970.rounded(.down)))
            for name in ["Content-Digest", "Signature-Input", "Signature"] {
                if let value = message.fieldValue(name) { request.headers.add(name: name, value: value) }
            }
        }
        if !body.isEmpty || method == "POST" { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await Self.client.execute(request, timeout: .seconds(Int64(timeout)))
            var buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            return Answer(status: Int(response.status.code), headers: response.headers,
                          body: buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw Problem(code: "server.timeout", message: "\(base) gave no answer within \(Int(timeout)) s; the request may or may not have been done, and sending it again is safe (references and signed decisions are never applied twice)",
                          field: "server", value: base, rule: "an answer within \(Int(timeout)) s")
        } catch {
            throw Problem(code: "server.unreachable", message: "cannot reach the permit server \(base): \(Self.reason(error))", field: "server", value: base,
                          rule: "a running permit serve at that address")
        }
    }

    /// Why a connection failed, in words: the system's text for an errno, else the error.
    static func reason(_ error: Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let client = error as? HTTPClientError, client == .connectTimeout { return "no connection within 10 s" }
        return "\(error)"
    }

    /// The JSON of a 2xx answer, or the refusal it carries, thrown as its problems.
    func json<T: Decodable>(_ answer: Answer) throws -> T {
        guard (200..<300).contains(answer.status) else { throw refusal(answer) }
        do {
            return try WireJSON.decode(T.self, from: Data(answer.body))
        } catch {
            throw Problem(code: "server.answer", message: "\(base) answered with JSON this client cannot read: \(WireJSON.describe(error))",
                          field: "server", value: base, rule: "the API of /v1/openapi.yaml")
        }
    }

    /// A non-2xx answer as the problems it names (problem+json), or a description of it.
    func refusal(_ answer: Answer) -> ProblemList {
        if let body = try? JSONDecoder().decode(Wire.ProblemBody.self, from: Data(answer.body)) {
            return ProblemList(body.problems)
        }
        let text = String(decoding: answer.body.prefix(200), as: UTF8.self)
        return ProblemList([Problem(code: "server.status", message: "\(base) answered \(answer.status): \(text)", field: "server", value: base,
                                    rule: "a permit server")])
    }

    /// `?a=1&b=2` of the parameters that have a value, each percent-encoded.
    static func query(_ items: [(String, String?)]) -> String {
        let present = items.compactMap { name, value in value.map { "\(name)=\(encode($0))" } }
        return present.isEmpty ? "" : "?" + present.joined(separator: "&")
    }

    /// A path segment, percent-encoded.
    static func pathSegment(_ text: String) -> String { encode(text) }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// RFC 3986 unreserved characters: everything else is percent-encoded.
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
