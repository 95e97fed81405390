import Foundation
import Hummingbird
import NIOCore
import PermitSchemas

/// `GET /v1/openapi.yaml`: the OpenAPI 3.1 document of the whole API (`Schemas/openapi.yaml`,
/// compiled in), public, with a strong ETag like the other published bytes.
struct APIDocumentRoute: Sendable {
    static let contentType = "application/yaml"

    func register(on router: Router<PermitServer.Context>) {
        let bytes = BundledSchemas.openAPIDocument
        router.get("v1/openapi.yaml") { request, _ -> Response in
            CacheableBytes(bytes: bytes, contentType: Self.contentType, cacheControl: "no-cache").response(to: request)
        }
    }
}
