import ArgumentParser
import Foundation
import PermitAPI
import PermitSeal

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make and show signing keys.",
        subcommands: [Generate.self, Show.self, Rotate.self]
    )

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a private key (PKCS#8 PEM, mode 0600).",
            discussion: """
            Examples:
              permit keys generate --alg EdDSA --out issuer.pem
              permit keys generate --alg ES256 --out approver-health.pem --json
            """
        )

        @Option(help: "EdDSA (Ed25519, what issuers write) or ES256 (P-256).")
        var alg: KeyAlgorithm = .edDSA

        @Option(name: .long, help: "The new private key file; it must not exist yet.")
        var out: String

        @Flag(help: "Also write the public key beside it, as FILE.pub (SPKI PEM).")
        var pub = false

        @OptionGroup var output: OutputOptions

        func run() async throws {
            let key = PrivateKey.generate(alg)
            try key.save(path: out)
            if pub { try key.publicKey.pem.write(toFile: out + ".pub", atomically: true, encoding: .utf8) }
            KeyDescription(key.publicKey, file: out).print(json: output.json)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a key's kid, algorithm and public key (never the private part).",
            discussion: """
            Examples:
              permit keys show issuer.pem
              permit keys show issuer.pub --json
            """
        )

        @Argument(help: "A private key (PKCS#8) or public key (SPKI, PEM or DER) file.")
        var file: String

        @OptionGroup var output: OutputOptions

        func run() async throws {
            KeyDescription(try PublicKey.load(path: file), file: file).print(json: output.json)
        }
    }
}

extension Keys {
    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate the authority's issuer key and re-publish the trust list.",
            discussion: """
            The old key's notAfter becomes now; it stays in the trust list so that the permits it \
            signed keep verifying until they expire. The new key is in the re-published list before \
            it signs its first permit. The old private key is kept (0600) under retired-keys/.

            Examples:
              permit keys rotate --admin-key permit-data/admin-key.pem
              permit keys rotate --alg ES256 --admin-key admin.pem --root-key root.pem --json
            """
        )

        @OptionGroup var data: DataOptions

        @Option(help: "EdDSA or ES256 for the new key.")
        var alg: KeyAlgorithm = .edDSA

        @OptionGroup var admin: AdminKeyOption

        @Option(help: "The root key that signs the trust list (default: the data directory's root-key.pem).")
        var rootKey: String?

        @OptionGroup var output: OutputOptions

        func run() async throws {
            let admin = try admin.signer()
            let service = try await data.service(signer: admin)
            let request = admin.action(.issuerRotate, .init(alg: alg.rawValue), authority: try await service.authority().code)
            let rotation = try await service.rotateIssuerKey(Data(request), root: try rootKey.map { try loadPrivateKey($0, field: "root-key") })
            if output.json {
                Console.out(JSONOutput.line(rotation))
            } else {
                Console.out(output.language.pick(
                    "签发密钥已轮换：\(rotation.retiredKid) 于 \(rotation.retiredAt) 停止签发，新密钥 \(rotation.newKid)（\(rotation.alg)）；信任列表已更新：\(rotation.trustList)",
                    "issuer key rotated: \(rotation.retiredKid) stopped signing at \(rotation.retiredAt); new key \(rotation.newKid) (\(rotation.alg)); trust list re-published: \(rotation.trustList)"))
            }
        }
    }
}

/// What `keys` commands print about a key: nothing secret.
struct KeyDescription: Encodable {
    var file: String
    var kid: String
    var alg: String
    var publicKey: String

    init(_ key: PublicKey, file: String) {
        self.file = file
        kid = key.kidHex
        alg = key.algorithm.rawValue
        publicKey = key.base64
    }

    func print(json: Bool) {
        if json {
            Console.out(JSONOutput.line(self))
        } else {
            Console.out("file:       \(file)\nkid:        \(kid)\nalg:        \(alg)\npublic key: \(publicKey)")
        }
    }
}
