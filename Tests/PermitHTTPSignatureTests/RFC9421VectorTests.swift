import Foundation
import PermitHTTPSignature
import PermitSeal
import XCTest

/// RFC 9421 Appendix B.2.6: the signature base and the Ed25519 signature, byte for byte.
final class RFC9421VectorTests: XCTestCase {
    struct Vector: Decodable {
        struct Request: Decodable {
            var method: String
            var targetURI: String
            var headers: [[String]]
            var body: String
        }
        var request: Request
        var label: String
        var components: [String]
        var created: Int64
        var keyid: String
        var signatureBase: [String]
        var signatureInput: String
        var signature: String
    }

    let folder = fixtures.appendingPathComponent("vectors/rfc9421")

    func load() throws -> (Vector, RequestMessage, SignatureParameters) {
        let vector = try JSONDecoder().decode(Vector.self, from: Data(contentsOf: folder.appendingPathComponent("b26.json")))
        let request = RequestMessage(method: vector.request.method, targetURI: vector.request.targetURI,
                                     headerFields: vector.request.headers.map { ($0[0], $0[1]) },
                                     body: Array(vector.request.body.utf8))
        let parameters = SignatureParameters([.init("created", .integer(vector.created)), .init("keyid", .string(vector.keyid))])
        return (vector, request, parameters)
    }

    func testB26SignatureBaseIsByteExact() throws {
        let (vector, request, parameters) = try load()
        let base = try SignatureBase.make(for: request, covering: vector.components, parameters: parameters)
        XCTAssertEqual(Array(base.utf8), Array(vector.signatureBase.joined(separator: "\n").utf8))
        let params = try SignatureBase.signatureParamsValue(covering: vector.components, parameters: parameters)
        XCTAssertEqual("\(vector.label)=\(params)", vector.signatureInput)
    }

    func testB26SignatureIsByteExact() throws {
        let (vector, request, parameters) = try load()
        let key = try PrivateKey(pkcs8: Array(Data(contentsOf: folder.appendingPathComponent("test-key-ed25519.pem"))))
        let rfcPublic = try PublicKey(pemOrDER: Array(Data(contentsOf: folder.appendingPathComponent("test-key-ed25519.pub.pem"))))
        XCTAssertEqual(key.publicKey, rfcPublic, "B.1.4's private key must give B.1.4's public key")

        let base = try SignatureBase.make(for: request, covering: vector.components, parameters: parameters)
        let signature = key.sign(Array(base.utf8))
        XCTAssertEqual("\(vector.label)=:\(Data(signature).base64EncodedString()):", vector.signature)

        // The three byte-exact outputs, counted for scripts/test's vector summary.
        let params = try SignatureBase.signatureParamsValue(covering: vector.components, parameters: parameters)
        let matches = [base == vector.signatureBase.joined(separator: "\n"),
                       "\(vector.label)=\(params)" == vector.signatureInput,
                       "\(vector.label)=:\(Data(signature).base64EncodedString()):" == vector.signature]
        reportVectors("rfc9421-b26 (base, Signature-Input, Signature)", cases: matches.count, failures: matches.filter { !$0 }.count)

        // And the RFC's signature verifies over our base with the RFC's public key.
        let printed = vector.signature.dropFirst(vector.label.count + 2).dropLast()
        let rfcSignature = try XCTUnwrap(Data(base64Encoded: String(printed)))
        XCTAssertTrue(rfcPublic.isValidSignature(Array(rfcSignature), for: Array(base.utf8)))
    }

    /// The same request, with its Content-Digest (sha-512 in B.2) checked by RFC 9530's rules.
    func testB2ContentDigestChecks() throws {
        let (_, request, _) = try load()
        XCTAssertNoThrow(try ContentDigest.check(request.fieldValue("content-digest").map { "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, " + $0 },
                                                 body: request.body))
        XCTAssertEqual(ContentDigest.fieldValue(for: request.body), "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
    }
}
