import ArgumentParser
import Foundation
import PermitModel
import PermitSeal

struct Seal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal an issued-permit document into its FP1: text.",
        discussion: """
        The document is JSON (Schemas/permit.schema.json): the application's fields, as in the \
        application file, plus number, approvedBy, conditions and issuedAt. seal masks the crew's \
        documents and phones, encodes the claims as deterministic CBOR, signs them as COSE_Sign1, \
        compresses and Base45-encodes them. Issuance runs the same code.

        Examples:
          permit seal --key issuer.pem --claims Tests/Fixtures/typical-permit.json
          permit seal --key issuer.pem --claims - --json < permit.json
        """
    )

    @Option(help: "The issuer's private key file (PKCS#8 PEM, mode 0600).")
    var key: String

    @Option(help: "The permit document (JSON), or - for standard input.")
    var claims: String

    @OptionGroup var output: OutputOptions

    func run() async throws {
        let signingKey = try PrivateKey.load(path: key)
        let document = try IssuedPermit.decode(json: try InputFile.read(claims))
        let sealed = try PermitSealer(key: signingKey).seal(try document.claims())
        if output.json {
            struct Result: Encodable { var number: String; var kid: String; var alg: String; var characters: Int; var text: String }
            Console.out(JSONOutput.line(Result(number: document.number, kid: signingKey.publicKey.kidHex, alg: signingKey.algorithm.rawValue,
                                               characters: sealed.text.count, text: sealed.text)))
        } else {
            Console.out(sealed.text)
        }
    }
}
