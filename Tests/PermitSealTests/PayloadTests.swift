import Foundation
import PermitFoundation
import PermitTestSupport
import XCTest
@testable import PermitSeal


final class PayloadTests: XCTestCase {
    func testClaimsRoundTripAndAreDeterministic() throws {
        let claims = sampleClaims()
        let bytes = claims.encoded()
        XCTAssertEqual(try PermitClaims(decoding: bytes), claims)
        // Re-encoding what was decoded gives the same bytes, and keys are sorted by encoding.
        let decoded = try CBORDecoder().decode(bytes)
        XCTAssertEqual(CBOREncoder.encode(decoded), bytes)
        guard case .map(let pairs) = decoded else { return XCTFail() }
        XCTAssertEqual(pairs.map(\.key), [1, 4, 5, 6, .int(-70001)])
        // Optional entries are left out, never null.
        var noVia = claims
        noVia.permit.via = nil
        noVia.permit.cargo.weightKg = nil
        let permitMap = try CBORDecoder().decode(noVia.encoded())[-70001]!
        XCTAssertNil(permitMap[7])
        XCTAssertNil(permitMap[11])
        XCTAssertNil(permitMap[4]![3])
        XCTAssertFalse(noVia.encoded().contains(0xf6))
    }

    func testSealAndDecode() throws {
        for alg in KeyAlgorithm.allCases {
            let key = PrivateKey.generate(alg)
            let sealed = try PermitSealer(key: key).seal(sampleClaims())
            XCTAssertTrue(sealed.text.hasPrefix("FP1:"))
            let decoded = try PermitText.decode(sealed.text)
            XCTAssertTrue(decoded.wasCompressed)
            XCTAssertTrue(decoded.cose.isTagged)
            XCTAssertEqual(decoded.cose.kid, key.publicKey.kid)
            XCTAssertEqual(try decoded.cose.algorithm(protectedOnly: true), alg)
            XCTAssertTrue(decoded.cose.unprotectedHeader.isEmpty)
            XCTAssertNoThrow(try decoded.cose.verify(with: key.publicKey))
            XCTAssertEqual(try PermitClaims(decoding: decoded.cose.payload), sampleClaims())
            XCTAssertThrowsError(try decoded.cose.verify(with: PrivateKey.generate(alg).publicKey))
        }
    }

    func testTypicalPermitFitsThe520CharacterBudget() throws {
        let sealed = try PermitSealer(key: .generate(.edDSA)).seal(sampleClaims())
        XCTAssertLessThanOrEqual(sealed.text.count, 520, "typical permit is \(sealed.text.count) characters")
    }

    func testUncompressedCOSEIsAccepted() throws {
        let key = PrivateKey.generate(.edDSA)
        let cose = COSESign1.sign(payload: sampleClaims().encoded(), with: key)
        let text = "FP1:" + Base45.encode(cose.encoded())
        let decoded = try PermitText.decode(text)
        XCTAssertFalse(decoded.wasCompressed)
        XCTAssertNoThrow(try decoded.cose.verify(with: key.publicKey))
    }

    func testStageReasons() {
        func reason(_ text: String) -> VerificationReason? {
            do { _ = try PermitText.decode(text); return nil } catch { return error.reason }
        }
        XCTAssertEqual(reason("HC1:6BFOXN"), .unknownPrefix)
        XCTAssertEqual(reason("https://example.com/"), .unknownPrefix)
        XCTAssertEqual(reason("FP1:abc"), .base45Invalid)
        XCTAssertEqual(reason("FP1:" + Base45.encode([0x78, 0xda, 1, 2, 3])), .decompressionFailed)
        XCTAssertEqual(reason("FP1:" + Base45.encode(Zlib().compress([0xd2, 0x83, 1, 2, 3]))), .coseMalformed)
        let bomb = Zlib(maxOutput: 1 << 21).compress([UInt8](repeating: 0, count: 1 << 20))
        XCTAssertEqual(reason("FP1:" + Base45.encode(bomb)), .decompressionFailed)
        // Bytes after the COSE item.
        let cose = COSESign1.sign(payload: [0xa0], with: .generate(.edDSA)).encoded()
        XCTAssertEqual(reason("FP1:" + Base45.encode(Zlib().compress(cose + [0]))), .coseMalformed)
        XCTAssertNil(reason("FP1:" + Base45.encode(Zlib().compress(cose))))
    }

    func testClaimsOfTheWrongTypeOrOverALimitAreMalformed() {
        func field(_ mutate: (inout CBOR) -> Void) -> String? {
            var item = sampleClaims().cbor
            mutate(&item)
            do { _ = try PermitClaims(item); return nil } catch { return error.field }
        }
        XCTAssertNil(field { _ in })
        XCTAssertEqual(field { $0 = $0.replacing(1, with: .unsigned(330114)) }, "iss")
        XCTAssertEqual(field { $0 = $0.replacing(4, with: .text("tomorrow")) }, "exp")
        XCTAssertEqual(field { $0 = $0.replacingPermit(1, with: .text("33011400001")) }, "permit.number")
        XCTAssertEqual(field { $0 = $0.replacingPermit(3, with: .array([])) }, "permit.crew")
        XCTAssertEqual(field { $0 = $0.replacingPermit(4, with: .map([CBORPair(1, [2]), CBORPair(2, .text(String(repeating: "货", count: 25)))])) }, "permit.cargo.description")
        XCTAssertEqual(field { $0 = $0.replacingPermit(10, with: .text("2")) }, "permit.trips")
        XCTAssertEqual(field { $0 = $0.replacingPermit(7, with: .array([1, 2, 3, 4, 5, 6])) }, "permit.via")
    }

    /// Issuance masks the fixture's full ID numbers and phones (first 6 + 8 stars + last 4 of an
    /// 18-character ID, first 3 + 4 stars + last 4 of a phone), written out here from the fixture.
    func testMasking() throws {
        let document = try IssuedPermit.decode(json: Data(contentsOf: fixtures.appendingPathComponent("typical-permit.json")))
        let crew = try document.claims().permit.crew
        XCTAssertEqual(crew.map(\.maskedDocument), ["330106********1235", "330102********2468"])
        XCTAssertEqual(crew.map(\.maskedPhone), ["138****5678", "139****4321"])
    }
}

extension CBOR {
    func replacing(_ key: Int64, with value: CBOR) -> CBOR {
        guard case .map(var pairs) = self else { return self }
        if let i = pairs.firstIndex(where: { $0.key == .int(key) }) { pairs[i].value = value } else { pairs.append(CBORPair(.int(key), value)) }
        return .map(pairs)
    }

    func replacingPermit(_ key: Int64, with value: CBOR) -> CBOR {
        replacing(-70001, with: self[-70001]!.replacing(key, with: value))
    }
}

final class DirectEncodingTests: XCTestCase {
    /// The hand-ordered encoder of the claims writes the same bytes as the generic deterministic encoder.
    func testDirectClaimsEncodingEqualsGenericEncoding() throws {
        var claims = sampleClaims()
        XCTAssertEqual(claims.encoded(), CBOREncoder.encode(claims.cbor))
        claims.permit.via = nil
        claims.permit.cargo.weightKg = nil
        claims.permit.conditions = ["限夜间通行", "不得进入主城区"]
        claims.permit.origin.address = "下沙街道福城路291号"
        claims.permit.crew.removeLast()
        claims.issuedAt = 1 << 40
        XCTAssertEqual(claims.encoded(), CBOREncoder.encode(claims.cbor))
        XCTAssertEqual(try PermitClaims(decoding: claims.encoded()), claims)
    }

    /// Mixed key types still sort by their encoded bytes.
    func testGenericSortingWithMixedKeys() {
        let map = CBOR.map([CBORPair("b", 1), CBORPair(100, 2), CBORPair(.int(-1), 3), CBORPair(.bytes([0]), 4), CBORPair(2, 5)])
        XCTAssertEqual(Hex.encode(CBOREncoder.encode(map)), "a502051864022003410004616201")
    }
}

final class ClaimsFastPathTests: XCTestCase {
    /// The direct reader and the general path agree on every input: random byte mutations of real
    /// claims either parse to the same value through both, or the fast path declines.
    func testFastPathAgreesWithTheGeneralPath() throws {
        var variants = [sampleClaims()]
        var v = sampleClaims()
        v.permit.via = nil; v.permit.cargo.weightKg = nil; v.permit.conditions = ["限夜间通行", "须冷链运输"]
        v.permit.origin.address = "下沙街道福城路291号"
        variants.append(v)
        var rng = SplitMix(seed: 9285)
        var accepted = 0, declined = 0
        for claims in variants {
            let bytes = claims.encoded()
            XCTAssertEqual(ClaimsFastPath.parse(bytes), claims)
            for _ in 0..<20_000 {
                var m = bytes
                switch rng.next() % 4 {
                case 0: let i = Int(rng.next() % UInt64(m.count)); m[i] ^= UInt8(1 << (rng.next() % 8))
                case 1: m.removeLast(Int(rng.next() % 8) + 1)
                case 2: m.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(m.count)))
                default: let i = Int(rng.next() % UInt64(m.count)); m[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                let general: PermitClaims? = try? PermitClaims(CBORDecoder(maxDepth: 32).decode(m))
                if let fast = ClaimsFastPath.parse(m) {
                    accepted += 1
                    XCTAssertEqual(fast, general, "fast path accepted what the general path reads differently: \(Hex.encode(m))")
                } else {
                    declined += 1
                }
            }
        }
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertGreaterThan(declined, 1000)
    }

    /// Forms the fast path declines still parse through the general path.
    func testGeneralPathStillReadsOtherWellFormedEncodings() throws {
        let claims = sampleClaims()
        // Non-shortest integer for iss's key, and an extra unknown claim.
        var pairs = claims.cbor.mapPairs!
        pairs.append(CBORPair(.text("x-extra"), 1))
        var bytes = CBOREncoder.encode(.map(pairs))
        XCTAssertNil(ClaimsFastPath.parse(bytes))
        XCTAssertEqual(try PermitClaims(decoding: bytes), claims)
        // An indefinite-length map at the top.
        bytes = CBOREncoder.encode(claims.cbor)
        bytes[0] = 0xbf
        bytes.append(0xff)
        XCTAssertNil(ClaimsFastPath.parse(bytes))
        XCTAssertEqual(try PermitClaims(decoding: bytes), claims)
    }
}

