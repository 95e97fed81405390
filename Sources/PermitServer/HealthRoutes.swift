import Foundation
import Hummingbird
import NIOCore
import PermitAPI

/// `GET /healthz` (the process answers) and `GET /readyz` (the store is reachable and migrated).
struct HealthRoutes: Sendable {
    let service: any PermitService

    func register(on router: Router<PermitServer.Context>) {
        router.get("healthz") { _, _ in
            Self.text("ok\n")
        }
        router.get("readyz") { _, context in
            // A real read of the store: it fails when the database cannot be opened or its
            // tables are not there (not migrated).
            do {
                _ = try await service.applications(ApplicationQuery(limit: 1))
            } catch {
                context.logger.warning("readyz: \(error)")
                throw HTTPProblem(.serviceUnavailable, code: "store.unavailable", detail: "the store cannot be read: \(error)",
                                  rule: "the store is reachable and migrated")
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
