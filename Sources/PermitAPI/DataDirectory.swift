import Foundation
import PermitModel

/// The files of an authority's data directory: `$PERMIT_HOME`, or `./permit-data`.
///
/// A data directory is a deployment. Its first authority's files are at the top (`permit.sqlite`,
/// `issuer-key.pem`, `admin-key.pem`, `routing.json`, `revocations.cose`, `retired-keys/`), as they
/// always were; each authority added since has the same files under `authorities/CODE/`. The
/// deployment's root key, `root.pub.pem` and the trust list listing every authority's issuer keys
/// stay at the top: `deployment` is that top directory for every authority of the deployment.
public struct DataDirectory: Sendable {
    /// The authority's own files.
    public let url: URL
    /// The deployment's top directory: the root key and the trust list. `url` itself for the
    /// first authority.
    public let deployment: URL

    public init(url: URL) {
        self.url = url
        deployment = url
    }

    /// An authority's directory inside the deployment at `deployment`.
    public init(url: URL, deployment: URL) {
        self.url = url
        self.deployment = deployment
    }

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
    public var rootKey: URL { deployment.appendingPathComponent("root-key.pem") }
    public var rootPublicKey: URL { deployment.appendingPathComponent("root.pub.pem") }
    public var trustList: URL { deployment.appendingPathComponent("trust-list.cose") }
    public var revocations: URL { file("revocations.cose") }
    /// Retired issuer keys are kept here after rotation, so audits can still check what they signed.
    public var retiredKeys: URL { file("retired-keys") }

    public var exists: Bool { FileManager.default.fileExists(atPath: database.path) }

    /// True for the deployment's first authority, whose files are at the top.
    public var isDeploymentTop: Bool { url.standardizedFileURL.path == deployment.standardizedFileURL.path }

    /// The folder that holds the added authorities' directories: `authorities/`.
    public var authoritiesFolder: URL { deployment.appendingPathComponent("authorities", isDirectory: true) }

    /// The directory of an authority added to this deployment: `authorities/CODE/`.
    public func addedAuthority(_ code: String) -> DataDirectory {
        DataDirectory(url: authoritiesFolder.appendingPathComponent(code, isDirectory: true), deployment: deployment)
    }

    /// The codes of the authorities added to this deployment (folders `authorities/CODE/` holding
    /// an issuer key), in code order. The first authority is not among them.
    public func addedAuthorityCodes() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: authoritiesFolder.path)) ?? []
        return names.filter { name in
            name.utf8.count == 6 && name.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
                && FileManager.default.fileExists(atPath: addedAuthority(name).issuerKey.path)
        }.sorted()
    }
}
