import ArgumentParser
import Foundation
import PermitSeal

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make and show signing keys.",
        subcommands: [Generate.self, Show.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a private key (PKCS#8 PEM, mode 0600).",
            discussion: """
            Examples:
              permit keys generate --alg EdDSA --out issuer.pem
              permit keys generate --alg ES256 --out approver-health.pem --json
            """
        )

        @Option(help: "EdDSA (Ed25519, what issuers write) or ES256 (P-256).")
        var alg: String = "EdDSA"

        @Option(name: .long, help: "The new private key file; it must not exist yet.")
        var out: String

        @Flag(help: "Also write the public key beside it, as FILE.pub (SPKI PEM).")
        var pub = false

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard KeyAlgorithm(name: alg) != nil else {
                throw ValidationError("--alg \(alg) is not supported; use EdDSA or ES256")
            }
        }

        func run() throws {
            let key = PrivateKey.generate(KeyAlgorithm(name: alg)!)
            try key.save(path: out)
            if pub { try key.publicKey.pem.write(toFile: out + ".pub", atomically: true, encoding: .utf8) }
            KeyDescription(key.publicKey, file: out).print(json: output.json)
        }
    }

    struct Show: ParsableCommand {
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

        func run() throws {
            KeyDescription(try PublicKey.load(path: file), file: file).print(json: output.json)
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
