import Foundation
import PermitHTTPSignature
import PermitSeal
import XCTest

/// The repository's root and its `Tests/Fixtures` folder (tests run from a source checkout).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures")

/// A fixed clock for the tests: 2026-12-02T09:00:00Z.
let testNow: Int64 = 1_796_202_000

let ed25519Key = PrivateKey.generate(.edDSA)
let p256Key = PrivateKey.generate(.es256)

/// A body request of the kind the CLI sends.
func applicationRequest(body: String = #"{"reference":"R-1","plate":"浙A12345"}"#) -> RequestMessage {
    RequestMessage(method: "POST", targetURI: "https://permits.example.cn/v1/authorities/330114/applications",
                   headerFields: [("Content-Type", "application/json"), ("User-Agent", "permit/1.0")],
                   body: Array(body.utf8))
}

/// A request without a body.
func listingRequest() -> RequestMessage {
    RequestMessage(method: "GET", targetURI: "https://permits.example.cn/v1/authorities/330114/applications?limit=50",
                   headerFields: [("Accept", "application/json")])
}

/// Looks keys up as a server's registry would.
func registry(_ keys: PrivateKey...) -> (String) -> PublicKey? {
    let table = Dictionary(uniqueKeysWithValues: keys.map { ($0.publicKey.kidHex, $0.publicKey) })
    return { table[$0] }
}

/// Signs with parameters and components chosen by the test, through the public base builder,
/// so that a refusal comes from the rule under test and not from a broken signature.
func signCustom(_ request: inout RequestMessage, key: PrivateKey, components: [String],
                parameters: [SignatureParameters.Parameter], label: String = "permit") throws {
    let params = try SignatureBase.signatureParamsValue(covering: components, parameters: SignatureParameters(parameters))
    if request.hasBody { request.setField("Content-Digest", ContentDigest.fieldValue(for: request.body)) }
    let base = try SignatureBase.make(for: request, covering: components, parameters: SignatureParameters(parameters))
    request.setField("Signature-Input", "\(label)=\(params)")
    request.setField("Signature", "\(label)=:\(Data(key.sign(Array(base.utf8))).base64EncodedString()):")
}

/// The parameters `RequestSignature.sign` writes, for `signCustom` to vary one at a time.
func standardParameters(key: PrivateKey, created: Int64 = testNow, expires: Int64? = nil,
                        nonce: String = "AAECAwQFBgcICQoLDA0ODw") -> [SignatureParameters.Parameter] {
    [
        .init("created", .integer(created)),
        .init("expires", .integer(expires ?? created + 300)),
        .init("nonce", .string(nonce)),
        .init("keyid", .string(key.publicKey.kidHex)),
        .init("alg", .string(key.algorithm == .edDSA ? "ed25519" : "ecdsa-p256-sha256")),
        .init("tag", .string("freight-permit")),
    ]
}

/// Asserts that verification refuses with `code`, and returns the error for further checks.
@discardableResult
func assertRefused(_ request: RequestMessage, _ code: HTTPSignatureError.Code, now: Int64 = testNow,
                   keys: @escaping (String) -> PublicKey? = registry(ed25519Key, p256Key),
                   file: StaticString = #filePath, line: UInt = #line) -> HTTPSignatureError? {
    do {
        let verified = try RequestSignature.verify(request, now: now, key: keys)
        XCTFail("accepted (keyid \(verified.keyID)); expected \(code.rawValue)", file: file, line: line)
        return nil
    } catch {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        return error
    }
}

/// Prints a suite's count in a form scripts/test collects: "vectors: NAME cases=N failures=F".
func reportVectors(_ name: String, cases: Int, failures: Int) {
    print("vectors: \(name) cases=\(cases) failures=\(failures)")
}
