import Foundation
import PermitTestSupport
import XCTest
import PermitSeal
@testable import PermitVerify

final class VerifierTests: XCTestCase {
    let world = World()

    func testValidPermitShowsClaimsAndSigner() throws {
        let sealed = try PermitSealer(key: world.qiantang).seal(sampleClaims())
        let result = try world.verifier().verify(sealed.text)
        XCTAssertEqual(result.outcome, .valid, result.detail ?? "")
        XCTAssertNil(result.reason)
        XCTAssertNil(result.stage)
        XCTAssertEqual(result.claims, sampleClaims())
        XCTAssertEqual(result.signer?.name, "杭州市钱塘区交通运输局")
        XCTAssertEqual(result.signer?.phone, "0571-86000000")
        XCTAssertEqual(result.signer?.kid, world.qiantang.publicKey.kidHex)
        XCTAssertEqual(result.warnings, [])
    }

    func testES256AndFullySpecifiedAlgorithmsAndUncompressedPayloads() throws {
        let p256 = PrivateKey.generate(.es256)
        let list = TrustList(sequence: 1, issuedAt: T.listIssued, nextUpdate: T.listNext,
                             keys: [world.entry(world.qiantang, "330114"), world.entry(p256, "330114")])
        let verifier = try world.verifier(world.store(list))
        XCTAssertTrue(verifier.verify(try PermitSealer(key: p256).seal(sampleClaims()).text).isValid)
        let payload = sampleClaims().encoded()
        XCTAssertTrue(verifier.verify(fp1(protected: standardHeader(world.qiantang, alg: -19), payload: payload, key: world.qiantang)).isValid)
        XCTAssertTrue(verifier.verify(fp1(protected: standardHeader(p256, alg: -9), payload: payload, key: p256)).isValid)
        XCTAssertTrue(verifier.verify(fp1(protected: standardHeader(world.qiantang), payload: payload, key: world.qiantang, compress: false)).isValid)
        // kid only in the unprotected header is still found.
        let unprotectedKid = fp1(protected: [CBORPair(.int(1), .int(-8))], unprotected: [CBORPair(.int(4), .bytes(world.qiantang.publicKey.kid))],
                                 payload: payload, key: world.qiantang)
        XCTAssertTrue(verifier.verify(unprotectedKid).isValid)
    }

    func testUntrustedKeyIsUnknownKey() throws {
        let stranger = PrivateKey.generate(.edDSA)
        let result = try world.verifier().verify(try PermitSealer(key: stranger).seal(sampleClaims()).text)
        assertRefused(result, .unknownKey, stage: "keyLookup")
        XCTAssertNil(result.claims, "claims of an unverified payload must not be shown")
        XCTAssertNil(result.signer)
        // No kid at all.
        let noKid = fp1(protected: [CBORPair(.int(1), .int(-8))], payload: sampleClaims().encoded(), key: world.qiantang)
        assertRefused(try world.verifier().verify(noKid), .unknownKey)
    }

    func testTrustedKidWithAnotherKeysSignatureIsSignatureInvalid() throws {
        // Two keys share the issuer's kid; neither is the key that signed.
        let impostorA = PrivateKey.generate(.edDSA), impostorB = PrivateKey.generate(.edDSA)
        let kid = world.qiantang.publicKey.kid
        let store = TrustStore(keys: [impostorA, impostorB].map {
            TrustStore.Key(key: $0.publicKey, authority: "330114", name: "x", nameEn: "x", phone: "1",
                           notBefore: T.keysFrom, notAfter: T.keysUntil, kid: kid)
        })
        let result = try world.verifier(store).verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text)
        assertRefused(result, .signatureInvalid, stage: "signature")
        XCTAssertNil(result.claims)
        // The signer's own key would have verified it: adding it second makes it valid.
        let withSigner = TrustStore(keys: store.keys + [TrustStore.Key(key: world.qiantang.publicKey, authority: "330114", name: "钱塘",
                                                                           nameEn: "Qiantang", phone: "2", notBefore: T.keysFrom, notAfter: T.keysUntil)])
        let valid = try world.verifier(withSigner).verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text)
        XCTAssertEqual(valid.outcome, .valid, valid.detail ?? "")
        XCTAssertEqual(valid.signer?.name, "钱塘", "the key that verified is the one reported")
    }

    func testSeveralKeysSharingAKidWhereTheSecondVerifies() throws {
        let other = PrivateKey.generate(.edDSA)
        let kid = world.qiantang.publicKey.kid
        let store = TrustStore(keys: [
            TrustStore.Key(key: other.publicKey, authority: "330114", name: "first", nameEn: "first", phone: "1",
                           notBefore: T.keysFrom, notAfter: T.keysUntil, kid: kid),
            TrustStore.Key(key: world.qiantang.publicKey, authority: "330114", name: "second", nameEn: "second", phone: "2",
                           notBefore: T.keysFrom, notAfter: T.keysUntil),
        ])
        XCTAssertEqual(store.keys(withKid: kid).count, 2)
        let result = try world.verifier(store).verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text)
        XCTAssertEqual(result.outcome, .valid, result.detail ?? "")
        XCTAssertEqual(result.signer?.name, "second")
    }

    func testAlgorithmComesFromTheProtectedHeaderOnly() throws {
        let verifier = try world.verifier()
        let payload = sampleClaims().encoded()
        // Swapped to ES256 while the kid names an EdDSA key: no key of that algorithm verifies.
        var cose = COSESign1.sign(payload: payload, with: world.qiantang)
        let swapped: [CBORPair] = [CBORPair(.int(1), .int(-7)), CBORPair(.int(4), .bytes(world.qiantang.publicKey.kid))]
        cose.protectedBytes = CBOREncoder.encode(.map(swapped))
        cose.protectedHeader = swapped
        assertRefused(verifier.verify(PermitText.encode(cose, zlib: Zlib())), .signatureInvalid, stage: "signature")
        // An alg nobody supports, signed honestly.
        assertRefused(verifier.verify(fp1(protected: [CBORPair(.int(1), .int(-35)), CBORPair(.int(4), .bytes(world.qiantang.publicKey.kid))],
                                          payload: payload, key: world.qiantang)), .unsupportedAlgorithm, stage: "algorithm")
        // alg as text, and alg only in the unprotected header.
        assertRefused(verifier.verify(fp1(protected: [CBORPair(.int(1), .text("EdDSA")), CBORPair(.int(4), .bytes(world.qiantang.publicKey.kid))],
                                          payload: payload, key: world.qiantang)), .unsupportedAlgorithm)
        assertRefused(verifier.verify(fp1(protected: [CBORPair(.int(4), .bytes(world.qiantang.publicKey.kid))], unprotected: [CBORPair(.int(1), .int(-8))],
                                          payload: payload, key: world.qiantang)), .unsupportedAlgorithm)
    }

    func testIssuerMustBeTheSignersAuthorityAndTheNumbersPrefix() throws {
        let verifier = try world.verifier()
        // A Qiantang key signs a permit claiming to be Suzhou's.
        let foreign = verifier.verify(try PermitSealer(key: world.qiantang).seal(sampleClaims(number: "320508000001")).text)
        assertRefused(foreign, .issuerMismatch, stage: "claims")
        XCTAssertEqual(foreign.claims?.issuer, "320508", "verified claims are shown for the officer")
        // iss is right but the number belongs to another authority.
        var claims = sampleClaims()
        claims.permit.number = "320508000001"
        assertRefused(verifier.verify(try PermitSealer(key: world.qiantang).seal(claims).text), .issuerMismatch, stage: "claims")
    }

    func testZlibBombIsDecompressionFailed() throws {
        let bomb = Zlib(maxOutput: 1 << 21).compress([UInt8](repeating: 0xd2, count: 1 << 20))
        XCTAssertLessThan(bomb.count, 4096)
        let started = Date()
        assertRefused(try world.verifier().verify("FP1:" + Base45.encode(bomb)), .decompressionFailed, stage: "inflate")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
        // Just over the 64 KiB bound, a real COSE_Sign1 with a padded payload.
        var claimsBytes = sampleClaims().encoded()
        claimsBytes += [UInt8](repeating: 0, count: 64 * 1024)
        let big = fp1(protected: standardHeader(world.qiantang), payload: claimsBytes, key: world.qiantang)
        assertRefused(try world.verifier().verify(big), .decompressionFailed)
    }

    func testMalformedClaimsAreRefusedAndNotShown() throws {
        let verifier = try world.verifier()
        var noCrew = sampleClaims().cbor
        noCrew = noCrew.replacing(-70001, with: noCrew[-70001]!.replacing(3, with: .array([])))
        let cases: [[UInt8]] = [
            CBOREncoder.encode(noCrew),
            CBOREncoder.encode(sampleClaims().cbor.replacing(4, with: .text("tomorrow"))),
            [0xa2, 0x01, 0x01, 0x01, 0x02],                 // duplicate keys
            Array(sampleClaims().encoded().dropLast(1)),     // truncated
            sampleClaims().encoded() + [0],                  // trailing byte
            [0xf6],                                          // null
        ]
        for (i, payload) in cases.enumerated() {
            let result = verifier.verify(fp1(protected: standardHeader(world.qiantang), payload: payload, key: world.qiantang))
            assertRefused(result, .claimsMalformed, stage: "claims")
            XCTAssertNil(result.claims, "case \(i)")
            XCTAssertEqual(result.signer?.authority, "330114", "case \(i): the signature did verify")
        }
    }

    func testKeyMustBeValidAtIssuance() throws {
        let rotated = TrustList(sequence: 4, issuedAt: T.listIssued, nextUpdate: T.listNext,
                                keys: [world.entry(world.qiantang, "330114", from: T.keysFrom, until: Date(timeIntervalSince1970: T.iat - 1))])
        let result = try world.verifier(world.store(rotated)).verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text)
        assertRefused(result, .keyNotValidAtIssuance, stage: "keyValidity")
        let young = TrustList(sequence: 4, issuedAt: T.listIssued, nextUpdate: T.listNext,
                              keys: [world.entry(world.qiantang, "330114", from: Date(timeIntervalSince1970: T.iat + 1), until: T.keysUntil)])
        assertRefused(try world.verifier(world.store(young)).verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text), .keyNotValidAtIssuance)
        // Both ends inclusive: a key rotated at the very second of issuance still covers it.
        let edge = TrustList(sequence: 4, issuedAt: T.listIssued, nextUpdate: T.listNext,
                             keys: [world.entry(world.qiantang, "330114", from: Date(timeIntervalSince1970: T.iat), until: Date(timeIntervalSince1970: T.iat))])
        XCTAssertTrue(try world.verifier(world.store(edge)).verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text).isValid)
    }

    func testRevokedThroughASignedRevocationList() throws {
        let sealed = try PermitSealer(key: world.qiantang).seal(sampleClaims())
        let other = try PermitSealer(key: world.qiantang).seal(sampleClaims(number: "330114000002"))
        let list = RevocationList(authority: "330114", sequence: 2, issuedAt: T.listIssued, nextUpdate: T.listNext,
                                  revoked: [.init(hash: sealed.revocationHash, revokedAt: T.listIssued, reason: "vehicle changed")])
        let store = try world.store()
        let set = try RevocationSet(verifying: list.signed(by: world.qiantang), trust: store, root: world.root.publicKey)
        XCTAssertEqual(set.hashes, [RevocationHash(hex: sealed.revocationHash)!])
        XCTAssertEqual(RevocationHash(hex: sealed.revocationHash)!.description, sealed.revocationHash)
        let verifier = try world.verifier(store, revocations: [set])
        let result = verifier.verify(sealed.text)
        assertRefused(result, .revoked, stage: "revocation")
        XCTAssertEqual(result.claims?.permit.number, "330114000001")
        XCTAssertTrue(verifier.verify(other.text).isValid)
        // Signed by the root is accepted too; signed by another authority's key is not.
        XCTAssertNoThrow(try RevocationSet(verifying: list.signed(by: world.root), trust: store, root: world.root.publicKey))
        let both = try world.store(TrustList(sequence: 9, issuedAt: T.listIssued, nextUpdate: T.listNext,
                                             keys: [world.entry(world.qiantang, "330114"), world.entry(world.suzhou, "320508")]))
        XCTAssertThrowsError(try RevocationSet(verifying: list.signed(by: world.suzhou), trust: both, root: world.root.publicKey))
        // A list applies only to its own authority's permits.
        let suzhouSet = RevocationSet(authority: "320508", hashes: [RevocationHash(hex: sealed.revocationHash)!])
        XCTAssertTrue(try world.verifier(store, revocations: [suzhouSet]).verify(sealed.text).isValid)
    }

    func testValidityWindowWithSkewEdges() throws {
        let text = try PermitSealer(key: world.qiantang).seal(sampleClaims()).text
        let store = try world.store()
        func verify(_ t: TimeInterval, skew: TimeInterval = 300) throws -> VerificationResult {
            try world.verifier(store, at: Date(timeIntervalSince1970: t), skew: skew).verify(text)
        }
        assertRefused(try verify(T.nbf - 301), .notYetValid, stage: "validityWindow")
        XCTAssertTrue(try verify(T.nbf - 300).isValid)
        XCTAssertTrue(try verify(T.nbf).isValid)
        XCTAssertTrue(try verify(T.exp + 299).isValid)
        assertRefused(try verify(T.exp + 300), .expired, stage: "validityWindow")
        assertRefused(try verify(T.exp, skew: 0), .expired)
        XCTAssertTrue(try verify(T.exp - 1, skew: 0).isValid)
        assertRefused(try verify(T.nbf - 1, skew: 0), .notYetValid)
        // The clock is read per verification.
        final class Moving: VerifierClock, @unchecked Sendable {
            var t: TimeInterval = T.nbf
            func now() -> Date { Date(timeIntervalSince1970: t) }
        }
        let clock = Moving()
        let verifier = Verifier(trust: store, clock: clock)
        XCTAssertTrue(verifier.verify(text).isValid)
        clock.t = T.exp + 3600
        assertRefused(verifier.verify(text), .expired)
    }

    func testPlateMatch() throws {
        let text = try PermitSealer(key: world.qiantang).seal(sampleClaims()).text
        XCTAssertTrue(try world.verifier(plate: "浙A12345").verify(text).isValid)
        XCTAssertTrue(try world.verifier(plate: "浙a·12345").verify(text).isValid)
        XCTAssertTrue(try world.verifier(plate: " 浙A 12345").verify(text).isValid)
        let result = try world.verifier(plate: "浙A12346").verify(text)
        assertRefused(result, .plateMismatch, stage: "plateMatch")
        // NFC: a plate written with a decomposed letter matches its composed form.
        let decomposed = try PermitSealer(key: world.qiantang).seal(sampleClaims(plate: "浙A1234\u{00C9}")).text
        XCTAssertTrue(try world.verifier(plate: "浙A1234E\u{0301}").verify(decomposed).isValid)
    }

    func testChecksRunInTheSpecsOrder() throws {
        let revokedExpiredWrongPlate = try PermitSealer(key: world.qiantang).seal(sampleClaims())
        let set = RevocationSet(authority: "330114", hashes: [RevocationHash(signature: revokedExpiredWrongPlate.cose.signature)])
        let late = Date(timeIntervalSince1970: T.exp + 86400)
        assertRefused(try world.verifier(at: late, revocations: [set], plate: "沪B00000").verify(revokedExpiredWrongPlate.text), .expired)
        assertRefused(try world.verifier(revocations: [set], plate: "沪B00000").verify(revokedExpiredWrongPlate.text), .revoked)
        // An untrusted, expired permit is untrusted: nothing is read from unverified claims.
        let stranger = try PermitSealer(key: .generate(.edDSA)).seal(sampleClaims())
        assertRefused(try world.verifier(at: late).verify(stranger.text), .unknownKey)
    }

    func testMergedListTrustsASecondAuthority() throws {
        let suzhouPermit = try PermitSealer(key: world.suzhou).seal(sampleClaims(number: "320508000042", plate: "苏E88888")).text
        let qiantangPermit = try PermitSealer(key: world.qiantang).seal(sampleClaims()).text
        assertRefused(try world.verifier().verify(suzhouPermit), .unknownKey)
        let merged = try TrustListMerge.merge([world.qiantangList, world.suzhouList, world.qiantangList], issuedAt: T.listIssued)
        XCTAssertEqual(merged.sequence, 8)
        XCTAssertEqual(merged.keys.count, 2, "duplicates by kid and key are merged")
        XCTAssertEqual(merged.nextUpdate, world.qiantangList.nextUpdate)
        let national = try world.store(merged)
        let result = try world.verifier(national).verify(suzhouPermit)
        XCTAssertEqual(result.outcome, .valid, result.detail ?? "")
        XCTAssertEqual(result.signer?.name, "苏州市姑苏区交通运输局")
        XCTAssertTrue(try world.verifier(national).verify(qiantangPermit).isValid)
        // A list signed by some other root is refused, not used.
        XCTAssertThrowsError(try TrustStore(verifying: merged.signed(by: world.suzhou), root: world.root.publicKey))
        // The same key claimed by two authorities cannot be merged.
        var hijack = world.suzhouList
        hijack.keys = [world.entry(world.qiantang, "320508")]
        XCTAssertThrowsError(try TrustListMerge.merge([world.qiantangList, hijack], issuedAt: T.listIssued))
        // The newest list's entry wins (a rotation shortened notAfter).
        var rotated = world.qiantangList
        rotated.sequence = 10
        rotated.keys = [world.entry(world.qiantang, "330114", until: Date(timeIntervalSince1970: T.nbf))]
        let merged2 = try TrustListMerge.merge([world.qiantangList, rotated], sequence: 99, issuedAt: T.listIssued)
        XCTAssertEqual(merged2.sequence, 99)
        XCTAssertEqual(merged2.keys.map(\.notAfter), [rotated.keys[0].notAfter])
    }

    func testStaleListsWarnButKeepTheOutcome() throws {
        let text = try PermitSealer(key: world.qiantang).seal(sampleClaims()).text
        let staleTrust = TrustList(sequence: 1, issuedAt: T.keysFrom, nextUpdate: Date(timeIntervalSince1970: T.nbf), keys: [world.entry(world.qiantang, "330114")])
        let staleRevocations = RevocationSet(authority: "330114", hashes: [], nextUpdate: Date(timeIntervalSince1970: T.nbf))
        let store = try world.store(staleTrust)
        let valid = try world.verifier(store, revocations: [staleRevocations]).verify(text)
        XCTAssertEqual(valid.outcome, .valid)
        XCTAssertEqual(valid.warnings.map(\.code), [.trustListStale, .revocationListStale])
        let late = try world.verifier(store, at: Date(timeIntervalSince1970: T.exp + 86400)).verify(text)
        assertRefused(late, .expired)
        XCTAssertEqual(late.warnings.map(\.code), [.trustListStale])
        // Even a refusal before the policies carries the warning: an unknown key may be a new one.
        let unknown = try world.verifier(store).verify(try PermitSealer(key: .generate(.edDSA)).seal(sampleClaims()).text)
        assertRefused(unknown, .unknownKey)
        XCTAssertEqual(unknown.warnings.map(\.code), [.trustListStale])
        // Fresh lists, no warnings.
        XCTAssertEqual(try world.verifier().verify(text).warnings, [])
    }

    func testTextsThatAreNotPermitsAreUnknownPrefix() throws {
        let verifier = try world.verifier(at: Date(timeIntervalSince1970: T.exp + 1e7))
        var rng = SplitMix(seed: 7)
        var texts = ["https://example.com/permit?id=330114000001", "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEMWK4MI6UOS03CR83KLBMO5*2",
                     "", "fp1:ABC", " FP1:ABC", "FP2:ABC", "FP1", "WIFI:S:cafe;T:WPA;P:secret;;", "{\"number\":\"330114000001\"}"]
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = String(decoding: bytes, as: UTF8.self)
            if !text.hasPrefix("FP1:") { texts.append(text) }
        }
        for text in texts {
            let result = verifier.verify(text)
            assertRefused(result, .unknownPrefix, stage: "prefix")
            XCTAssertNil(result.claims)
        }
    }

    func testResultIsCodable() throws {
        let result = try world.verifier().verify(try PermitSealer(key: world.qiantang).seal(sampleClaims()).text)
        let json = try JSONEncoder().encode(result)
        XCTAssertEqual(try JSONDecoder().decode(VerificationResult.self, from: json), result)
        let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        XCTAssertEqual(object["outcome"] as? String, "valid")
        let refused = try world.verifier().verify("HC1:x")
        let refusedObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(refused)) as! [String: Any]
        XCTAssertEqual(refusedObject["reason"] as? String, "unknownPrefix")
        XCTAssertEqual(refusedObject["stage"] as? String, "prefix")
        XCTAssertNil(refusedObject["claims"])
    }

    func testCivilTime() {
        XCTAssertEqual(CivilTime.rfc3339(0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(CivilTime.rfc3339(Int64(T.nbf)), "2025-12-05T16:00:00Z")
        XCTAssertEqual(CivilTime.day(Int64(T.nbf)), "2025-12-06")
        XCTAssertEqual(CivilTime.day(Int64(T.exp) - 1), "2025-12-19")
        XCTAssertEqual(CivilTime.rfc3339(951_782_400), "2000-02-29T00:00:00Z")
        XCTAssertEqual(CivilTime.rfc3339(-1), "1969-12-31T23:59:59Z")
    }
}

extension CBOR {
    func replacing(_ key: Int64, with value: CBOR) -> CBOR {
        guard case .map(var pairs) = self else { return self }
        if let i = pairs.firstIndex(where: { $0.key == .int(key) }) { pairs[i].value = value } else { pairs.append(CBORPair(.int(key), value)) }
        return .map(pairs)
    }
}
