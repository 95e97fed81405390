import Foundation
import XCTest
@testable import PermitSeal

/// Project Wycheproof's signature vectors against the signature layer. Each `valid` case must
/// verify and each `invalid` case must be refused. `acceptable` cases (legacy encodings that a
/// library may accept) are not asserted either way: we count and print how many we accepted,
/// because our verifier has no reason to prefer one answer, and the vectors say both are correct.
final class WycheproofTests: XCTestCase {
    private func run(_ file: String, key makeKey: ([String: Any]) throws -> PublicKey) throws -> (cases: Int, failures: Int, acceptable: Int, acceptedAcceptable: Int) {
        let json = try fixtureJSON("vectors/wycheproof/\(file)") as! [String: Any]
        var cases = 0, failures = 0, acceptable = 0, accepted = 0
        for group in json["testGroups"] as! [[String: Any]] {
            let key = try makeKey(group)
            for t in group["tests"] as! [[String: Any]] {
                cases += 1
                let ok = key.isValidSignature(hexBytes(t["sig"] as! String), for: hexBytes(t["msg"] as! String))
                switch t["result"] as! String {
                case "valid" where !ok, "invalid" where ok:
                    failures += 1
                    XCTFail("\(file) tcId \(t["tcId"]!): \(t["comment"] ?? "") result \(t["result"]!) but verified=\(ok)")
                case "acceptable":
                    acceptable += 1
                    if ok { accepted += 1 }
                default: break
                }
            }
        }
        XCTAssertEqual(cases, json["numberOfTests"] as? Int)
        return (cases, failures, acceptable, accepted)
    }

    func testEd25519() throws {
        let r = try run("ed25519_test.json") { group in
            let pk = (group["publicKey"] as! [String: Any])["pk"] as! String
            return try PublicKey(spki: hexBytes("302a300506032b6570032100") + hexBytes(pk))
        }
        reportVectors("wycheproof-ed25519", cases: r.cases, failures: r.failures)
        print("wycheproof-ed25519: acceptable=\(r.acceptable) accepted=\(r.acceptedAcceptable)")
    }

    func testECDSAP256P1363() throws {
        let r = try run("ecdsa_secp256r1_sha256_p1363_test.json") { group in
            try PublicKey(spki: hexBytes(group["publicKeyDer"] as! String))
        }
        reportVectors("wycheproof-ecdsa-p256-p1363", cases: r.cases, failures: r.failures)
        print("wycheproof-ecdsa-p256-p1363: acceptable=\(r.acceptable) accepted=\(r.acceptedAcceptable)")
    }
}
