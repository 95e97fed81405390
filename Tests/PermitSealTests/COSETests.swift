import Foundation
import PermitFoundation
import PermitTestSupport
import XCTest
@testable import PermitSeal

final class COSETests: XCTestCase {
    private let p256Prefix = hexBytes("3059301306072a8648ce3d020106082a8648ce3d030107034200")

    private func base64url(_ s: String) -> [UInt8] {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Array(Data(base64Encoded: t)!)
    }

    private struct VectorKey {
        var publicKey: PublicKey?
        var privateKey: PrivateKey?
    }

    /// A key of the cose-wg examples; nil public key for a curve we do not support (Ed448).
    private func key(_ jwk: [String: Any]) throws -> VectorKey {
        let crv = jwk["crv"] as? String
        switch crv {
        case "Ed25519":
            let x = hexBytes(jwk["x_hex"] as! String)
            let d = (jwk["d_hex"] as? String).map(hexBytes)
            return VectorKey(publicKey: try PublicKey(spki: hexBytes("302a300506032b6570032100") + x),
                             privateKey: try d.map { try PrivateKey(ed25519Seed: $0) })
        case "P-256":
            let x = (jwk["x_hex"] as? String).map(hexBytes) ?? base64url(jwk["x"] as! String)
            let y = (jwk["y_hex"] as? String).map(hexBytes) ?? base64url(jwk["y"] as! String)
            return VectorKey(publicKey: try PublicKey(spki: p256Prefix + [4] + x + y), privateKey: nil)
        default:
            return VectorKey(publicKey: nil, privateKey: nil)
        }
    }

    private enum Outcome: Equatable { case verified, refused(COSEError.Kind) }

    /// Runs one cose-wg example through the general COSE_Sign1 layer: alg from either header,
    /// external AAD as given.
    private func run(_ path: String) throws -> (Outcome, [String: Any]) {
        let v = try fixtureJSON("vectors/cose/\(path)") as! [String: Any]
        let input = v["input"] as! [String: Any]
        let sign0 = input["sign0"] as! [String: Any]
        let output = v["output"] as! [String: Any]
        let bytes = hexBytes(output["cbor"] as! String)
        let aad = (sign0["external"] as? String).map(hexBytes) ?? []
        let k = try key(sign0["key"] as! [String: Any])
        return (outcome(bytes, k.publicKey, aad), v)
    }

    private func outcome(_ bytes: [UInt8], _ publicKey: PublicKey?, _ aad: [UInt8]) -> Outcome {
        let result = Result { () throws(COSEError) -> Void in
            let message = try COSESign1.decode(bytes)
            _ = try message.algorithm(protectedOnly: false)
            guard let publicKey else { throw COSEError(.unsupportedAlgorithm, "the key's curve is not supported") }
            try message.verify(with: publicKey, externalAAD: aad, protectedAlgorithmOnly: false)
        }
        switch result {
        case .success: return .verified
        case .failure(let e): return .refused(e.kind)
        }
    }

    func testCoseWGExamples() throws {
        let expected: [String: Outcome] = [
            "eddsa-examples/eddsa-sig-01.json": .verified,
            "eddsa-examples/eddsa-sig-02.json": .refused(.unsupportedAlgorithm),  // Ed448
            "ecdsa-examples/ecdsa-sig-01.json": .verified,
            "ecdsa-examples/ecdsa-sig-02.json": .refused(.unsupportedAlgorithm),  // ES384
            "sign1-tests/sign-pass-01.json": .verified,  // alg only in the unprotected header
            "sign1-tests/sign-pass-02.json": .verified,  // external AAD
            "sign1-tests/sign-pass-03.json": .verified,  // untagged
            "sign1-tests/sign-fail-01.json": .refused(.malformed),  // tag 998
            "sign1-tests/sign-fail-02.json": .refused(.signatureInvalid),  // payload changed
            "sign1-tests/sign-fail-03.json": .refused(.unsupportedAlgorithm),  // alg -999
            "sign1-tests/sign-fail-04.json": .refused(.unsupportedAlgorithm),  // alg "unknown"
            "sign1-tests/sign-fail-06.json": .refused(.signatureInvalid),  // protected attribute added
            "sign1-tests/sign-fail-07.json": .refused(.signatureInvalid),  // protected attribute removed
            "CWT/A_3.json": .verified,  // RFC 8392's signed CWT
        ]
        var failures = 0
        for (path, want) in expected.sorted(by: { $0.key < $1.key }) {
            let (got, _) = try run(path)
            if got != want {
                failures += 1
                XCTFail("\(path): \(got), expected \(want)")
            }
        }
        let files = try FileManager.default.subpathsOfDirectory(atPath: fixtures.appendingPathComponent("vectors/cose").path)
            .filter { $0.hasSuffix(".json") }
        XCTAssertEqual(Set(files), Set(expected.keys), "every COSE example has an expected outcome")
        reportVectors("cose-wg-examples", cases: expected.count, failures: failures)
    }

    /// Ed25519 is deterministic: signing eddsa-sig-01 with its key reproduces the example byte for byte.
    func testEdDSASig01IsByteExact() throws {
        let v = try fixtureJSON("vectors/cose/eddsa-examples/eddsa-sig-01.json") as! [String: Any]
        let sign0 = (v["input"] as! [String: Any])["sign0"] as! [String: Any]
        let k = try key(sign0["key"] as! [String: Any])
        let message = COSESign1.sign(
            protectedHeader: [CBORPair(1, .int(-8)), CBORPair(3, 0)],
            unprotectedHeader: [CBORPair(4, .bytes(Array("11".utf8)))],
            payload: Array("This is the content.".utf8), with: k.privateKey!)
        let expectedHex = ((v["output"] as! [String: Any])["cbor"] as! String).lowercased()
        XCTAssertEqual(Hex.encode(message.encoded()), expectedHex)
        let tbs = ((v["intermediates"] as! [String: Any])["ToBeSign_hex"] as! String).lowercased()
        XCTAssertEqual(Hex.encode(message.toBeSigned()), tbs)
    }

    func testFP1ProfileTakesAlgFromTheProtectedHeaderOnly() throws {
        let (outcome, v) = try run("sign1-tests/sign-pass-01.json")
        XCTAssertEqual(outcome, .verified)
        let message = try COSESign1.decode(hexBytes((v["output"] as! [String: Any])["cbor"] as! String))
        XCTAssertThrowsError(try message.algorithm(protectedOnly: true)) {
            XCTAssertEqual(($0 as? COSEError)?.kind, .unsupportedAlgorithm)
        }
    }

    func testRFC9864IdentifiersAreAcceptedAsTheirPolymorphicForms() throws {
        for (alg, keyAlg) in [(Int64(-19), KeyAlgorithm.edDSA), (-9, .es256)] {
            let key = PrivateKey.generate(keyAlg)
            let message = COSESign1.sign(protectedHeader: [CBORPair(1, .int(alg)), CBORPair(4, .bytes(key.publicKey.kid))],
                                         payload: [1, 2, 3], with: key)
            XCTAssertNoThrow(try COSESign1.decode(message.encoded()).verify(with: key.publicKey))
        }
    }

    func testCWTTag61IsRefused() throws {
        let key = PrivateKey.generate(.edDSA)
        let inner = CBOR.tagged(18, try CBORDecoder().decode(COSESign1.sign(payload: [0xa0], with: key).encoded()).untagged)
        let wrapped = CBOREncoder.encode(.tagged(61, inner))
        XCTAssertThrowsError(try COSESign1.decode(wrapped)) { XCTAssertEqual(($0 as? COSEError)?.kind, .malformed) }
    }
}

extension CBOR {
    var untagged: CBOR {
        if case .tagged(_, let inner) = self { return inner }
        return self
    }
}

final class COSEFastPathTests: XCTestCase {
    /// The slicing reader and the general decoder agree on real messages and their mutations.
    func testCommonFormAgreesWithTheGeneralDecoder() throws {
        var rng = SplitMix(seed: 9052)
        var accepted = 0
        for alg in KeyAlgorithm.allCases {
            let message = COSESign1.sign(payload: sampleClaims().encoded(), with: .generate(alg))
            for tagged in [true, false] {
                var m = message
                m.isTagged = tagged
                let bytes = m.encoded()
                XCTAssertEqual(try COSESign1.decodeCommonForm(bytes, decoder: CBORDecoder()), m)
                for _ in 0..<5000 {
                    var x = bytes
                    switch rng.next() % 3 {
                    case 0: let i = Int(rng.next() % UInt64(x.count)); x[i] ^= UInt8(1 << (rng.next() % 8))
                    case 1: x.removeLast(Int(rng.next() % 4) + 1)
                    default: x.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(x.count)))
                    }
                    let general = try? COSESign1(CBORDecoder().decode(x))
                    if let fast = try? COSESign1.decodeCommonForm(x, decoder: CBORDecoder()) {
                        accepted += 1
                        XCTAssertEqual(fast, general, Hex.encode(x))
                    }
                }
            }
        }
        XCTAssertGreaterThan(accepted, 1000)
    }
}
