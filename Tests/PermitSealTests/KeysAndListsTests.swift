import Foundation
import PermitFoundation
import PermitTestSupport
import XCTest
@testable import PermitSeal

final class KeysAndListsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func testPrivateKeysAreSaved0600AndReloaded() throws {
        for alg in KeyAlgorithm.allCases {
            let path = dir.appendingPathComponent("\(alg.rawValue).pem").path
            let key = PrivateKey.generate(alg)
            try key.save(path: path)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
            XCTAssertEqual(mode & 0o777, 0o600)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            XCTAssertTrue(text.hasPrefix("-----BEGIN PRIVATE KEY-----"))
            let loaded = try PrivateKey.load(path: path)
            XCTAssertEqual(loaded.publicKey, key.publicKey)
            // Refuses to overwrite an existing key.
            XCTAssertThrowsError(try PrivateKey.generate(alg).save(path: path)) {
                XCTAssertEqual(($0 as? KeyError)?.code, .alreadyExists)
            }
        }
    }

    func testReadableByOthersIsRefused() throws {
        let path = dir.appendingPathComponent("loose.pem").path
        try PrivateKey.generate(.edDSA).save(path: path)
        chmod(path, 0o644)
        XCTAssertThrowsError(try PrivateKey.load(path: path)) { XCTAssertEqual(($0 as? KeyError)?.code, .insecurePermissions) }
        chmod(path, 0o640)
        XCTAssertThrowsError(try PrivateKey.load(path: path)) { XCTAssertEqual(($0 as? KeyError)?.code, .insecurePermissions) }
    }

    /// The kid is SHA-256 of the DER SPKI, checked against the system's openssl where present.
    func testKidIsSHA256OfSPKI() throws {
        for alg in KeyAlgorithm.allCases {
            let key = PrivateKey.generate(alg).publicKey
            XCTAssertEqual(key.kid, Array(Hashing.sha256(key.spki).prefix(8)))
            XCTAssertEqual(key.kid.count, 8)
            let pemPath = dir.appendingPathComponent("pub-\(alg.rawValue).pem").path
            try key.pem.write(toFile: pemPath, atomically: true, encoding: .utf8)
            XCTAssertEqual(try PublicKey.load(path: pemPath), key)
            let derPath = dir.appendingPathComponent("pub-\(alg.rawValue).der").path
            try Data(key.spki).write(to: URL(fileURLWithPath: derPath))
            XCTAssertEqual(try PublicKey.load(path: derPath).kid, key.kid)
        }
        // The P-256 SPKI carries the uncompressed point.
        let p256 = PrivateKey.generate(.es256).publicKey
        XCTAssertEqual(p256.spki.count, 91)
        XCTAssertEqual(p256.spki[26], 0x04)
    }

    func testOpenSSLReadsOurKeys() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return XCTFail("openssl is not installed (apt-get install openssl; scripts/setup does)") }
        for alg in KeyAlgorithm.allCases {
            let path = dir.appendingPathComponent("o-\(alg.rawValue).pem").path
            let key = PrivateKey.generate(alg)
            try key.save(path: path)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = ["pkey", "-in", path, "-pubout", "-outform", "DER"]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let der = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(Array(der), key.publicKey.spki, "openssl's SPKI for our \(alg.rawValue) key")
        }
    }

    func testTrustListSignVerifyAndTamper() throws {
        let root = PrivateKey.generate(.edDSA)
        let issuer = PrivateKey.generate(.es256)
        let now = Date(timeIntervalSince1970: 1_764_900_000)
        let entry = TrustList.Entry(key: issuer.publicKey, authority: "330114", name: "杭州市钱塘区交通运输局", nameEn: "Qiantang Transport Bureau",
                                    phone: "0571-86000000", notBefore: now, notAfter: now.addingTimeInterval(86400 * 365))
        let list = TrustList(sequence: 1, issuedAt: now, nextUpdate: now.addingTimeInterval(86400 * 7), keys: [entry])
        let signed = list.signed(by: root)
        XCTAssertEqual(try TrustList.verify(signed, root: root.publicKey), list)

        // Signed by another key.
        XCTAssertThrowsError(try TrustList.verify(list.signed(by: .generate(.edDSA)), root: root.publicKey)) {
            XCTAssertEqual(($0 as? ListError)?.code, .signatureInvalid)
        }
        // One byte of the JSON changed.
        var altered = signed
        let i = altered.lastIndex(of: UInt8(ascii: "1"))!
        altered[i] = UInt8(ascii: "2")
        XCTAssertThrowsError(try TrustList.verify(altered, root: root.publicKey)) {
            XCTAssertEqual(($0 as? ListError)?.code, .signatureInvalid)
        }
        // Unsigned JSON.
        XCTAssertThrowsError(try TrustList.verify(Array(try JSONEncoder().encode(list)), root: root.publicKey)) {
            XCTAssertEqual(($0 as? ListError)?.code, .unsigned)
        }
        // A kid that does not match its key, even when properly signed.
        var wrongKid = list
        wrongKid.keys[0].kid = "0000000000000000"
        XCTAssertThrowsError(try TrustList.verify(wrongKid.signed(by: root), root: root.publicKey)) {
            XCTAssertEqual(($0 as? ListError)?.code, .kidMismatch)
        }
    }

    func testRevocationListSignedByAuthorityKey() throws {
        let issuer = PrivateKey.generate(.edDSA)
        let sealed = try PermitSealer(key: issuer).seal(sampleClaims())
        let now = Date(timeIntervalSince1970: 1_764_900_000)
        let list = RevocationList(authority: "330114", sequence: 3, issuedAt: now, nextUpdate: now.addingTimeInterval(86400),
                                  revoked: [.init(hash: sealed.revocationHash, revokedAt: now, reason: "superseded")])
        let signed = list.signed(by: issuer)
        XCTAssertEqual(RevocationList.claimedAuthority(signed), "330114")
        XCTAssertEqual(try RevocationList.verify(signed, signers: [issuer.publicKey]).revoked.first?.hash, sealed.revocationHash)
        XCTAssertEqual(sealed.revocationHash.count, 32)
        XCTAssertEqual(sealed.revocationHash, Hex.encode(Hashing.sha256(sealed.cose.signature).prefix(16)))
        XCTAssertThrowsError(try RevocationList.verify(signed, signers: [PrivateKey.generate(.edDSA).publicKey]))
    }
}
