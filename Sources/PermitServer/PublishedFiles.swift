import Foundation
import Hummingbird
import NIOCore
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal

/// The published files of the data directory that every instance of a deployment shares: the
/// signed lists, as bytes made once per change, and the pinned root's public key. Read on each
/// request, so that a list re-exported while the server runs is served at once, and every
/// instance serves identical bytes under the same ETag.
struct PublishedFiles: Sendable {
    let directory: DataDirectory

    /// `trust-list.cose`; nil when there is none.
    func trustList() -> [UInt8]? { read(directory.trustList) }

    /// The latest revocation list the authority published (`revocations.cose`); nil when none.
    func revocations() -> [UInt8]? { read(directory.revocations) }

    /// The root's public key from `root.pub.pem`.
    func rootKey() throws -> PublicKey {
        do {
            return try PublicKey.load(path: directory.rootPublicKey.path)
        } catch {
            throw ServerSetupError("cannot read the root public key \(directory.rootPublicKey.path): \(error.detail)")
        }
    }

    /// Padded standard base64 of the root's DER SubjectPublicKeyInfo, as the page embeds it.
    func rootSPKIBase64() throws -> String { Data(try rootKey().spki).base64EncodedString() }

    private func read(_ url: URL) -> [UInt8]? {
        FileManager.default.contents(atPath: url.path).map { Array($0) }
    }
}

/// Bytes that clients cache and poll: a strong ETag (the quoted SHA-256 of the bytes, so every
/// instance gives the same one), `Cache-Control`, and 304 for a matching `If-None-Match`.
struct CacheableBytes {
    var bytes: [UInt8]
    var contentType: String
    var cacheControl: String
    var extraHeaders: HTTPFields = [:]

    var etag: String { "\"" + Hashing.sha256Hex(bytes) + "\"" }

    func response(to request: Request) -> Response {
        let tag = etag
        var headers = extraHeaders
        headers[.eTag] = tag
        headers[.cacheControl] = cacheControl
        if Self.matches(request.headers[values: .ifNoneMatch], tag) {
            return Response(status: .notModified, headers: headers, body: .init())
        }
        headers[.contentType] = contentType
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers,
                        body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// RFC 9110 §13.1.2: `*`, or any listed tag equal to ours under the weak comparison.
    static func matches(_ fields: [String], _ tag: String) -> Bool {
        for field in fields {
            for candidate in field.split(separator: ",") {
                var c = candidate.trimmingCharacters(in: .whitespaces)
                if c == "*" { return true }
                if c.hasPrefix("W/") { c.removeFirst(2) }
                if c == tag { return true }
            }
        }
        return false
    }
}

extension String {
    /// The media type of a Content-Type value, lowercased, without parameters.
    var mediaType: String {
        WireRequest.mediaType(self)
    }
}

extension PublishedFiles {
    /// Replaces the published revocation list (atomically: a reader sees the old or the new bytes).
    func publishRevocations(_ bytes: [UInt8]) throws {
        do {
            try Data(bytes).write(to: directory.revocations, options: .atomic)
        } catch {
            throw HTTPProblem(.internalServerError, code: "revocations.unwritable",
                              detail: "the server could not publish the revocation list: \(error.localizedDescription)",
                              rule: "the data directory is writable by the server")
        }
    }
}
