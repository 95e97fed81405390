import Foundation
import Hummingbird
import NIOCore
import PermitWebPage

/// The checkpoint page (Web/verify, issue #14) under `/verify/`: the files compiled into the
/// binary, `index.html` with the root's public key in place of its placeholder, each with its
/// content type and a strong ETag. `/verify` redirects to `/verify/`, which the page's relative
/// addresses and its service worker's scope need.
struct WebVerifierPage: Sendable {
    let files: [String: [UInt8]]

    /// Content types by extension.
    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "webmanifest": "application/manifest+json", "svg": "image/svg+xml",
    ]

    static let serviceWorkerAllowed = HTTPFields.Element.Name("Service-Worker-Allowed")!

    init(rootSPKIBase64: String) {
        var files = PermitWebPage.files
        if let index = files["index.html"] {
            files["index.html"] = Array(String(decoding: index, as: UTF8.self)
                .replacingOccurrences(of: PermitWebPage.rootPlaceholder, with: rootSPKIBase64).utf8)
        }
        self.files = files
    }

    func register(on router: Router<PermitServer.Context>) {
        let serve: @Sendable (Request, PermitServer.Context) async throws -> Response = { request, _ in
            try respond(to: request)
        }
        router.get("verify", use: serve)
        router.get("verify/**", use: serve)
    }

    func respond(to request: Request) throws -> Response {
        let path = request.uri.path
        if path == "/verify" {
            return Response(status: .movedPermanently, headers: [.location: "/verify/", .contentLength: "0"], body: .init())
        }
        var name = String(path.dropFirst("/verify/".count))
        if name.isEmpty { name = "index.html" }
        guard path.hasPrefix("/verify/"), let bytes = files[name],
              let type = name.split(separator: ".").last.flatMap({ Self.contentTypes[String($0)] }) else {
            throw HTTPProblem(.notFound, code: "http.notFound", detail: "no file \(name) in the checkpoint page", field: "path", value: path)
        }
        var extra: HTTPFields = [:]
        if name == "sw.js" { extra[Self.serviceWorkerAllowed] = "/verify/" }
        // no-cache: revalidated on every load (a 304 when unchanged), so a new deployment's page
        // reaches the phones; the service worker keeps a copy for offline use.
        return CacheableBytes(bytes: bytes, contentType: type, cacheControl: "no-cache", extraHeaders: extra).response(to: request)
    }
}
