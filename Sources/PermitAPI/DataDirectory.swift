import Foundation
import PermitModel

/// The files of an authority's data directory: `$PERMIT_HOME`, or `./permit-data`.
public struct DataDirectory: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url }

    /// `$PERMIT_HOME`, or `./permit-data`.
    public static func fromEnvironment() -> DataDirectory {
        let env = ProcessInfo.processInfo.environment["PERMIT_HOME"]
        let path = (env?.isEmpty == false ? env! : "permit-data")
        return DataDirectory(url: URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL)
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    public var database: URL { file("permit.sqlite") }
    public var issuerKey: URL { file("issuer-key.pem") }
    public var adminKey: URL { file("admin-key.pem") }
    public var rootKey: URL { file("root-key.pem") }
    public var rootPublicKey: URL { file("root.pub.pem") }
    public var trustList: URL { file("trust-list.cose") }
    public var revocations: URL { file("revocations.cose") }
    /// Retired issuer keys are kept here after rotation, so audits can still check what they signed.
    public var retiredKeys: URL { file("retired-keys") }

    public var exists: Bool { FileManager.default.fileExists(atPath: database.path) }
}
