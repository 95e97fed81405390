import Foundation

/// The bundled data files of `Schemas/`: code tables, routing rules, divisions, JSON Schemas.
public enum BundledSchemas {
    /// `openapi.yaml`, the OpenAPI 3.1 document of the HTTP API, compiled into the binary
    /// (`.embedInCode`), so that a server always serves the document it was built with.
    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// The URL of a bundled file such as `"routing.json"`, or nil when it is not bundled.
    public static func url(_ fileName: String) -> URL? {
        Bundle.module.url(forResource: fileName, withExtension: nil)
    }

    /// The bytes of a bundled file. A missing bundled file is a build defect, so it traps.
    public static func data(_ fileName: String) -> Data {
        guard let url = url(fileName), let data = try? Data(contentsOf: url) else {
            fatalError("bundled schema file \(fileName) is missing from the build")
        }
        return data
    }
}
