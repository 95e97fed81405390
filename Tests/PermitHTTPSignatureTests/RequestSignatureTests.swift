import Foundation
import PermitHTTPSignature
import PermitSeal
import XCTest

/// Signing and verifying under the contract's profile, and every refusal with its code.
final class RequestSignatureTests: XCTestCase {
    // MARK: Accepted

    func testSignedRequestsVerifyForBothAlgorithms() throws {
        for key in [ed25519Key, p256Key] {
            for var request in [applicationRequest(), listingRequest()] {
                try RequestSignature.sign(&request, with: key, created: testNow)
                let verified = try RequestSignature.verify(request, now: testNow + 10, key: registry(ed25519Key, p256Key))
                XCTAssertEqual(verified.keyID, key.publicKey.kidHex)
                XCTAssertEqual(verified.key, key.publicKey)
                XCTAssertEqual(verified.algorithm, SignatureAlgorithm(key.algorithm))
                XCTAssertEqual(verified.created, testNow)
                XCTAssertEqual(verified.expires, testNow + 300)
                XCTAssertEqual(verified.nonceBytes.count, 16)
                XCTAssertFalse(verified.nonce.contains("="))
            }
        }
    }

    func testHeadersTheSignerWrites() throws {
        var request = applicationRequest(body: "{}")
        let nonce = Array(0..<16).map(UInt8.init)
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow, lifetime: 120, nonce: nonce)
        XCTAssertEqual(request.fieldValue("content-digest"), "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:")
        XCTAssertEqual(request.fieldValue("signature-input"),
                       #"permit=("@method" "@target-uri" "content-type" "content-digest");created=\#(testNow);expires=\#(testNow + 120);nonce="AAECAwQFBgcICQoLDA0ODw";keyid="\#(ed25519Key.publicKey.kidHex)";alg="ed25519";tag="freight-permit""#)
        let signature = try XCTUnwrap(request.fieldValue("signature"))
        XCTAssertTrue(signature.hasPrefix("permit=:") && signature.hasSuffix(":"))
        XCTAssertEqual(Data(base64Encoded: String(signature.dropFirst(8).dropLast()))?.count, 64)

        var listing = listingRequest()
        try RequestSignature.sign(&listing, with: p256Key, created: testNow)
        XCTAssertNil(listing.fieldValue("content-digest"), "no digest without a body")
        XCTAssertTrue(listing.fieldValue("signature-input")!.hasPrefix(#"permit=("@method" "@target-uri");"#))
        XCTAssertTrue(listing.fieldValue("signature-input")!.contains(#"alg="ecdsa-p256-sha256""#))
    }

    func testSigningTwiceReplacesTheSignatureAndNoncesDiffer() throws {
        var request = applicationRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        let first = try RequestSignature.verify(request, now: testNow, key: registry(ed25519Key))
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        XCTAssertEqual(request.headerFields.filter { $0.name == "Signature" }.count, 1)
        let second = try RequestSignature.verify(request, now: testNow, key: registry(ed25519Key))
        XCTAssertNotEqual(first.nonce, second.nonce)
    }

    func testClockBoundariesAreInclusive() throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        XCTAssertNoThrow(try RequestSignature.verify(request, now: testNow - 60, key: registry(ed25519Key)))
        XCTAssertNoThrow(try RequestSignature.verify(request, now: testNow + 300, key: registry(ed25519Key)))
    }

    func testOtherSignaturesAndParameterOrderAreTolerated() throws {
        // Another label beside ours is ignored; our parameters may come in any order.
        var request = applicationRequest()
        var parameters = standardParameters(key: p256Key)
        parameters.reverse()
        try signCustom(&request, key: p256Key, components: RequestSignature.coveredComponents(hasBody: true), parameters: parameters)
        request.setField("Signature-Input", #"proxy=("@method");created=1, "# + request.fieldValue("Signature-Input")!)
        request.setField("Signature", "proxy=:AAAA:, " + request.fieldValue("Signature")!)
        XCTAssertNoThrow(try RequestSignature.verify(request, now: testNow, key: registry(p256Key)))
    }

    func testAsyncKeyLookup() async throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        let lookup: (String) async -> PublicKey? = { kid in
            await Task.yield()
            return kid == ed25519Key.publicKey.kidHex ? ed25519Key.publicKey : nil
        }
        let verified = try await RequestSignature.verify(request, now: testNow, key: lookup)
        XCTAssertEqual(verified.keyID, ed25519Key.publicKey.kidHex)
        do {
            _ = try await RequestSignature.verify(request, now: testNow, key: { (_: String) async -> PublicKey? in nil })
            XCTFail("accepted without a key")
        } catch {
            XCTAssertEqual(error.code, .unknownKey)
        }
    }

    // MARK: auth.missing

    func testMissingFieldsAndLabel() throws {
        var request = applicationRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        var noInput = request
        noInput.removeField("Signature-Input")
        XCTAssertEqual(assertRefused(noInput, .missing)?.field, "Signature-Input")
        var noSignature = request
        noSignature.removeField("signature")
        XCTAssertEqual(assertRefused(noSignature, .missing)?.field, "Signature")
        assertRefused(applicationRequest(), .missing)

        var otherLabel = applicationRequest()
        try signCustom(&otherLabel, key: ed25519Key, components: RequestSignature.coveredComponents(hasBody: true),
                       parameters: standardParameters(key: ed25519Key), label: "sig1")
        XCTAssertEqual(assertRefused(otherLabel, .missing)?.rule, "a signature labelled permit")

        var signatureForOtherLabel = request
        signatureForOtherLabel.setField("Signature", request.fieldValue("Signature")!.replacingOccurrences(of: "permit=", with: "sig1="))
        assertRefused(signatureForOtherLabel, .missing)
    }

    // MARK: auth.malformed

    func testMalformedFields() throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        let input = request.fieldValue("Signature-Input")!

        var garbage = request
        garbage.setField("Signature-Input", "permit=(\"@method\" unterminated")
        assertRefused(garbage, .malformed)

        var notInnerList = request
        notInnerList.setField("Signature-Input", #"permit="@method""#)
        assertRefused(notInnerList, .malformed)

        var notBytes = request
        notBytes.setField("Signature", #"permit="c2ln""#)
        XCTAssertEqual(assertRefused(notBytes, .malformed)?.field, "Signature")

        var badBase64 = request
        badBase64.setField("Signature", "permit=:not base64:")
        assertRefused(badBase64, .malformed)

        var unknownParameter = request
        unknownParameter.setField("Signature-Input", input + ";extra=1")
        XCTAssertEqual(assertRefused(unknownParameter, .malformed)?.field, "Signature-Input;extra")
    }

    func testMalformedParametersOnAValidSignature() throws {
        let components = RequestSignature.coveredComponents(hasBody: false)
        for drop in ["created", "expires", "nonce", "keyid", "alg", "tag"] {
            var request = listingRequest()
            try signCustom(&request, key: ed25519Key, components: components,
                           parameters: standardParameters(key: ed25519Key).filter { $0.name != drop })
            XCTAssertEqual(assertRefused(request, .malformed)?.field, "Signature-Input;\(drop)", drop)
        }
        var createdAsString = listingRequest()
        try signCustom(&createdAsString, key: ed25519Key, components: components,
                       parameters: standardParameters(key: ed25519Key).map { $0.name == "created" ? .init("created", .string("\(testNow)")) : $0 })
        XCTAssertEqual(assertRefused(createdAsString, .malformed)?.field, "Signature-Input;created")

        var keyidAsInteger = listingRequest()
        try signCustom(&keyidAsInteger, key: ed25519Key, components: components,
                       parameters: standardParameters(key: ed25519Key).map { $0.name == "keyid" ? .init("keyid", .integer(7)) : $0 })
        assertRefused(keyidAsInteger, .malformed)

        for badKeyID in [ed25519Key.publicKey.kidHex.uppercased(), "test-key-ed25519", String(ed25519Key.publicKey.kidHex.prefix(14))] {
            var request = listingRequest()
            try signCustom(&request, key: ed25519Key, components: components,
                           parameters: standardParameters(key: ed25519Key).map { $0.name == "keyid" ? .init("keyid", .string(badKeyID)) : $0 })
            XCTAssertEqual(assertRefused(request, .malformed)?.value, badKeyID)
        }
    }

    // MARK: auth.components / auth.component

    func testCoveredComponentsMustBeExactlyTheContracts() throws {
        let withBody = RequestSignature.coveredComponents(hasBody: true)
        let cases: [(RequestMessage, [String])] = [
            (applicationRequest(), ["@method", "@target-uri", "content-type"]),                    // digest not covered
            (applicationRequest(), ["@method", "@target-uri", "content-digest", "content-type"]),  // order
            (applicationRequest(), withBody + ["user-agent"]),                                     // extra
            (applicationRequest(), ["@method", "@target-uri"]),                                    // body not covered at all
            (listingRequest(), ["@method"]),
            (listingRequest(), ["@method", "@authority", "@path"]),
        ]
        for (request, components) in cases {
            var signed = request
            try signCustom(&signed, key: ed25519Key, components: components, parameters: standardParameters(key: ed25519Key))
            assertRefused(signed, .components)
        }

        // A GET signed without a body, then given one by someone else.
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        request.body = Array("{}".utf8)
        assertRefused(request, .components)

        // A component parameter is not the contract's component either.
        var withParameter = listingRequest()
        try RequestSignature.sign(&withParameter, with: ed25519Key, created: testNow)
        withParameter.setField("Signature-Input", withParameter.fieldValue("Signature-Input")!
            .replacingOccurrences(of: #""@target-uri""#, with: #""@target-uri";req"#))
        assertRefused(withParameter, .components)
    }

    func testACoveredFieldRemovedAfterSigning() throws {
        var request = applicationRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        request.removeField("content-type")
        XCTAssertEqual(assertRefused(request, .component)?.field, "content-type")

        var unsignable = applicationRequest()
        unsignable.removeField("Content-Type")
        XCTAssertThrowsError(try RequestSignature.sign(&unsignable, with: ed25519Key, created: testNow)) {
            XCTAssertEqual(($0 as? HTTPSignatureError)?.code, .component)
        }
    }

    // MARK: auth.tag, auth.algorithm

    func testTag() throws {
        var request = listingRequest()
        try signCustom(&request, key: ed25519Key, components: ["@method", "@target-uri"],
                       parameters: standardParameters(key: ed25519Key).map { $0.name == "tag" ? .init("tag", .string("other-app")) : $0 })
        XCTAssertEqual(assertRefused(request, .tag)?.value, "other-app")
    }

    func testAlgorithm() throws {
        for alg in ["rsa-pss-sha512", "hmac-sha256", "ED25519", "ecdsa-p384-sha384"] {
            var request = listingRequest()
            try signCustom(&request, key: ed25519Key, components: ["@method", "@target-uri"],
                           parameters: standardParameters(key: ed25519Key).map { $0.name == "alg" ? .init("alg", .string(alg)) : $0 })
            XCTAssertEqual(assertRefused(request, .algorithm)?.value, alg)
        }
        // A valid name that is not the key's algorithm, either way round.
        for (key, alg) in [(ed25519Key, "ecdsa-p256-sha256"), (p256Key, "ed25519")] {
            var request = listingRequest()
            try signCustom(&request, key: key, components: ["@method", "@target-uri"],
                           parameters: standardParameters(key: key).map { $0.name == "alg" ? .init("alg", .string(alg)) : $0 })
            assertRefused(request, .algorithm)
        }
    }

    // MARK: auth.lifetime, auth.future, auth.expired

    func testLifetime() throws {
        for expires in [testNow + 301, testNow, testNow - 1] {
            var request = listingRequest()
            try signCustom(&request, key: ed25519Key, components: ["@method", "@target-uri"],
                           parameters: standardParameters(key: ed25519Key, expires: expires))
            assertRefused(request, .lifetime)
        }
        var request = listingRequest()
        XCTAssertThrowsError(try RequestSignature.sign(&request, with: ed25519Key, created: testNow, lifetime: 301)) {
            XCTAssertEqual(($0 as? HTTPSignatureError)?.code, .lifetime)
        }
        XCTAssertThrowsError(try RequestSignature.sign(&request, with: ed25519Key, created: testNow, lifetime: 0))
    }

    func testCreatedInTheFuture() throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow + 61)
        XCTAssertEqual(assertRefused(request, .future)?.value, String(testNow + 61))
        XCTAssertNoThrow(try RequestSignature.verify(request, now: testNow + 1, key: registry(ed25519Key)))
    }

    func testExpired() throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow, lifetime: 30)
        let error = assertRefused(request, .expired, now: testNow + 31)
        XCTAssertEqual(error?.field, "Signature-Input;expires")
        XCTAssertEqual(error?.value, String(testNow + 30))
    }

    // MARK: auth.nonce

    func testNonce() throws {
        let sixteen = Data(Array(0..<16).map(UInt8.init)).base64EncodedString()  // "AAECAwQFBgcICQoLDA0ODw=="
        let bad = [
            "AAECAwQFBgcICQoLDA0O",                 // 15 bytes
            sixteen,                                // padded
            "AAECAwQFBgcICQoLDA0ODx",               // unused bits set: a second spelling of 16 bytes
            "+/ECAwQFBgcICQoLDA0ODw",               // standard alphabet
            "",
        ]
        for nonce in bad {
            var request = listingRequest()
            try signCustom(&request, key: ed25519Key, components: ["@method", "@target-uri"],
                           parameters: standardParameters(key: ed25519Key, nonce: nonce))
            XCTAssertEqual(assertRefused(request, .nonce)?.value, nonce, nonce)
        }
        var request = listingRequest()
        XCTAssertThrowsError(try RequestSignature.sign(&request, with: ed25519Key, created: testNow, nonce: Array(repeating: 1, count: 15))) {
            XCTAssertEqual(($0 as? HTTPSignatureError)?.code, .nonce)
        }
    }

    // MARK: auth.unknownKey

    func testUnknownOrSubstitutedKey() throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        XCTAssertEqual(assertRefused(request, .unknownKey, keys: registry(p256Key))?.value, ed25519Key.publicKey.kidHex)
        // A lookup that answers with some other key is not trusted for this keyid.
        let other = PrivateKey.generate(.edDSA)
        assertRefused(request, .unknownKey, keys: { _ in other.publicKey })
    }

    // MARK: auth.digest

    func testDigest() throws {
        var request = applicationRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)

        var tampered = request
        tampered.body = Array(#"{"reference":"R-1","plate":"浙A99999"}"#.utf8)
        XCTAssertEqual(assertRefused(tampered, .digest)?.field, "Content-Digest")

        var noDigest = request
        noDigest.removeField("Content-Digest")
        assertRefused(noDigest, .digest)

        var sha512Only = request
        sha512Only.setField("Content-Digest", "sha-512=:" + Data(count: 64).base64EncodedString() + ":")
        assertRefused(sha512Only, .digest)

        var badSHA512 = request
        badSHA512.setField("Content-Digest", request.fieldValue("Content-Digest")! + ", sha-512=:" + Data(count: 64).base64EncodedString() + ":")
        assertRefused(badSHA512, .digest)

        var notADictionary = request
        notADictionary.setField("Content-Digest", "sha-256 = nonsense")
        assertRefused(notADictionary, .digest)

        XCTAssertThrowsError(try ContentDigest.check("sha-256=\"text\"", body: [])) {
            XCTAssertEqual(($0 as? HTTPSignatureError)?.code, .digest)
        }
    }

    // MARK: auth.badSignature

    func testTamperedRequestsFailTheSignature() throws {
        var request = applicationRequest()
        try RequestSignature.sign(&request, with: p256Key, created: testNow)

        var method = request
        method.method = "PUT"
        assertRefused(method, .badSignature)

        var target = request
        target.targetURI = "https://permits.example.cn/v1/authorities/330115/applications"
        assertRefused(target, .badSignature)

        var contentType = request
        contentType.setField("Content-Type", "text/plain")
        assertRefused(contentType, .badSignature)

        // A new body with a matching new digest still breaks the signature over the digest.
        var body = request
        body.body = Array(#"{"reference":"R-2"}"#.utf8)
        body.setField("Content-Digest", ContentDigest.fieldValue(for: body.body))
        assertRefused(body, .badSignature)

        var parameters = request
        parameters.setField("Signature-Input", request.fieldValue("Signature-Input")!
            .replacingOccurrences(of: "expires=\(testNow + 300)", with: "expires=\(testNow + 200)"))
        assertRefused(parameters, .badSignature)

        var flipped = request
        var bytes = Array(Data(base64Encoded: String(request.fieldValue("Signature")!.dropFirst(8).dropLast()))!)
        bytes[10] ^= 1
        flipped.setField("Signature", "permit=:\(Data(bytes).base64EncodedString()):")
        assertRefused(flipped, .badSignature)

        var short = request
        short.setField("Signature", "permit=:\(Data(bytes.prefix(63)).base64EncodedString()):")
        assertRefused(short, .badSignature)

        // Signed by another key that claims this key's keyid.
        var impostor = applicationRequest()
        let other = PrivateKey.generate(.es256)
        try signCustom(&impostor, key: other, components: RequestSignature.coveredComponents(hasBody: true),
                       parameters: standardParameters(key: p256Key))
        assertRefused(impostor, .badSignature)
    }

    func testErrorsCarryAStableCodeAndAProblem() throws {
        var request = listingRequest()
        try RequestSignature.sign(&request, with: ed25519Key, created: testNow)
        let error = try XCTUnwrap(assertRefused(request, .expired, now: testNow + 400))
        let problem = try XCTUnwrap(error.problems.first)
        XCTAssertEqual(problem.code, "auth.expired")
        XCTAssertEqual(problem.field, "Signature-Input;expires")
        XCTAssertNotNil(problem.rule)
        XCTAssertTrue(error.message.contains("100 s ago"), error.message)
        XCTAssertEqual(Set(HTTPSignatureError.Code.allCases.map(\.rawValue)).count, HTTPSignatureError.Code.allCases.count)
    }
}
