import Foundation
import Hummingbird
import NIOCore
import PermitAPI
import PermitModel

/// The hosted authorities and the signed lists a checkpoint polls:
/// `GET /v1/authorities`, `GET|HEAD /v1/trust-list.cose`, `GET|HEAD /v1/authorities/{code}/revocations.cose`.
struct AuthorityRoutes: Sendable {
    let authorities: HostedAuthorities
    let files: PublishedFiles

    static let coseType = "application/cose; cose-type=\"cose-sign1\""
    /// A minute: a checkpoint polling every minute costs one 304.
    static let listCacheControl = "max-age=60"

    func register(on router: Router<PermitServer.Context>) {
        router.get("v1/authorities") { _, context -> Response in
            var summaries: [Wire.AuthoritySummary] = []
            for hosted in await authorities.current(logger: context.logger) { summaries.append(Wire.AuthoritySummary(try await hosted.service.authority())) }
            return try JSONBody.response(summaries)
        }
        router.get("v1/trust-list.cose") { request, _ -> Response in
            guard let bytes = files.trustList() else {
                throw HTTPProblem(.notFound, code: "trustList.none", detail: "this deployment has published no trust list",
                                  rule: "the trust list is signed by the root and kept in the data directory")
            }
            return CacheableBytes(bytes: bytes, contentType: Self.coseType, cacheControl: Self.listCacheControl).response(to: request)
        }
        router.get("v1/authorities/:code/revocations.cose") { request, context -> Response in
            let code = context.parameters.get("code") ?? ""
            let files = PublishedFiles(directory: try await authorities.find(code).directory)
            guard let bytes = files.revocations() else {
                throw HTTPProblem(.notFound, code: "revocations.none", detail: "authority \(code) has published no revocation list",
                                  field: "code", value: code, rule: "a list is published with permit revocations export")
            }
            return CacheableBytes(bytes: bytes, contentType: Self.coseType, cacheControl: Self.listCacheControl).response(to: request)
        }
    }
}

/// JSON responses: sorted keys and unescaped slashes, as the CLI's `--json`.
enum JSONBody {
    static func response<T: Encodable>(_ value: T, encoder: JSONEncoder = JSONBody.encoder()) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json", .contentLength: String(data.count)],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = WireJSON.dateEncoding
        return encoder
    }

    /// The JSON body of a request (already read by the authenticator against the size limit),
    /// refused with 400 when it is not JSON, or not the shape the route takes.
    static func decode<T: Decodable>(_ request: Request) async throws -> T {
        let type = request.headers[.contentType]?.mediaType ?? ""
        guard type == "application/json" else {
            throw HTTPProblem(.unsupportedMediaType, code: "request.mediaType",
                              detail: type.isEmpty ? "the request has no Content-Type" : "\(type) is not a type this resource reads",
                              field: "Content-Type", value: request.headers[.contentType], rule: "application/json",
                              headers: [.accept: "application/json"])
        }
        var buffer = try await request.body.collect(upTo: .max)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        do {
            return try WireRequest.decodeJSON(T.self, from: bytes)
        } catch {
            throw HTTPProblem(.badRequest, error)
        }
    }

    /// A COSE_Sign1 body (`application/cose`): a signed document as the client made it.
    static func cose(_ request: Request) async throws -> [UInt8] {
        let type = request.headers[.contentType]?.mediaType ?? ""
        guard type == "application/cose" else {
            throw HTTPProblem(.unsupportedMediaType, code: "request.mediaType",
                              detail: type.isEmpty ? "the request has no Content-Type" : "\(type) is not a type this resource reads",
                              field: "Content-Type", value: request.headers[.contentType], rule: "application/cose (a COSE_Sign1)",
                              headers: [.accept: "application/cose"])
        }
        var buffer = try await request.body.collect(upTo: .max)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard !bytes.isEmpty else {
            throw HTTPProblem(.badRequest, code: "request.emptyBody", detail: "the request body is empty", field: "body", rule: "a COSE_Sign1")
        }
        return bytes
    }
}
