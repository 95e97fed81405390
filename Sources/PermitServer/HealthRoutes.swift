import Foundation
import Hummingbird
import NIOCore
import PermitAPI

/// `GET /healthz` (the process answers) and `GET /readyz` (every hosted authority's store is
/// reachable and migrated: each has a store of its own, a file or a schema).
struct HealthRoutes: Sendable {
    let authorities: HostedAuthorities

    func register(on router: Router<PermitServer.Context>) {
        router.get("healthz") { _, _ in
            Self.text("ok\n")
        }
        router.get("readyz") { _, context in
            // A real read of each store: it fails when the database cannot be opened or its
            // tables are not there (not migrated).
            for hosted in await authorities.current(logger: context.logger) {
                let (code, service) = (hosted.code, hosted.service)
                do {
                    _ = try await service.applications(ApplicationQuery(limit: 1))
                } catch {
                    context.logger.warning("readyz: authority \(code): \(error)")
                    throw HTTPProblem(.serviceUnavailable, code: "store.unavailable", detail: "the store of authority \(code) cannot be read: \(error)",
                                      rule: "every hosted authority's store is reachable and migrated")
                }
            }
            return Self.text("ready\n")
        }
    }

    static func text(_ text: String) -> Response {
        let bytes = Array(text.utf8)
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .contentLength: String(bytes.count),
                                               .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
