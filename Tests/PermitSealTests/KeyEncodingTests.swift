import Foundation
import PermitFoundation
import XCTest
@testable import PermitSeal

/// Keys are encoded and decoded by swift-crypto (Crypto for P-256, CryptoExtras for Ed25519);
/// these tests pin the bytes the files and kids had before, and the PEM layouts that only our
/// fallback reads.
final class KeyEncodingTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-keyenc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// RFC 8410 §10.1 and §10.3: the example Ed25519 key pair.
    static let rfc8410Public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
    static let rfc8410Private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"

    /// The layout keys were written in before swift-crypto wrote them: 64-character lines and a final line feed.
    func oldPEM(_ der: [UInt8], _ label: String) -> String {
        "-----BEGIN \(label)-----\n" + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END \(label)-----\n"
    }

    func testRFC8410ExamplesAndTheFixedEd25519Encodings() throws {
        let pub = try PublicKey(pemOrDER: Array(Self.rfc8410Public.utf8))
        XCTAssertEqual(pub.algorithm, .edDSA)
        XCTAssertEqual(Hex.encode(pub.spki), "302a300506032b6570032100" + "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")
        XCTAssertEqual(pub.pem, Self.rfc8410Public)
        let key = try PrivateKey(pkcs8: Array(Self.rfc8410Private.utf8))
        XCTAssertEqual(key.publicKey, pub)
        XCTAssertEqual(Hex.encode(key.pkcs8), "302e020100300506032b657004220420" + "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842")
        XCTAssertEqual(key.pkcs8PEM, Self.rfc8410Private)
        XCTAssertEqual(try PrivateKey(pkcs8: key.pkcs8).publicKey, pub)
        XCTAssertEqual(try PublicKey(pemOrDER: pub.spki), pub)
    }

    /// Saved files and public PEMs are byte for byte what they were, for both algorithms.
    func testFilesKeepTheirBytes() throws {
        for alg in KeyAlgorithm.allCases {
            let key = PrivateKey.generate(alg)
            let path = dir.appendingPathComponent("\(alg.rawValue).pem").path
            try key.save(path: path)
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), oldPEM(key.pkcs8, "PRIVATE KEY"))
            XCTAssertEqual(key.publicKey.pem, oldPEM(key.publicKey.spki, "PUBLIC KEY"))
            XCTAssertEqual(try PublicKey(pemOrDER: Array(key.publicKey.pem.utf8)), key.publicKey)
        }
    }

    /// Layouts swift-crypto's PEM readers refuse, which key files have and which we read as before:
    /// explanatory text, CRLF, another block beside the key, lines of another length.
    func testLenientLayoutsStillRead() throws {
        for alg in KeyAlgorithm.allCases {
            let key = PrivateKey.generate(alg)
            let pem = key.pkcs8PEM
            let oneLine = "-----BEGIN PRIVATE KEY-----\n" + Data(key.pkcs8).base64EncodedString() + "\n-----END PRIVATE KEY-----\n"
            let reflowed = "-----BEGIN PRIVATE KEY-----\n"
                + Data(key.pkcs8).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n-----END PRIVATE KEY-----\n"
            let layouts = ["Key for the approver\n" + pem, pem.replacingOccurrences(of: "\n", with: "\r\n"), pem + key.publicKey.pem,
                           key.publicKey.pem + pem, oneLine, reflowed, "  " + pem + "\n\n"]
            for text in layouts {
                XCTAssertEqual(try PrivateKey(pkcs8: Array(text.utf8)).publicKey, key.publicKey, "\(alg) \(text.debugDescription)")
            }
            let publicLayouts = ["# root\n" + key.publicKey.pem, key.publicKey.pem.replacingOccurrences(of: "\n", with: "\r\n"),
                                 pem + key.publicKey.pem, key.publicKey.pem + key.publicKey.pem]
            for text in publicLayouts {
                XCTAssertEqual(try PublicKey(pemOrDER: Array(text.utf8)), key.publicKey, "\(alg) \(text.debugDescription)")
            }
            // A file holding the private key gives its public key, and still must be 0600.
            let path = dir.appendingPathComponent("both-\(alg.rawValue).pem").path
            try KeyFile.writeSecret(Array((pem + key.publicKey.pem).utf8), path: path, overwrite: false)
            XCTAssertEqual(try PublicKey.load(path: path), key.publicKey)
            chmod(path, 0o644)
            XCTAssertThrowsError(try PublicKey.load(path: path)) { XCTAssertEqual(($0 as? KeyError)?.code, .insecurePermissions) }
        }
    }

    /// swift-crypto's Ed25519 reader takes any RFC 8410 key; an X25519 key is still refused.
    func testX25519KeysAreRefused() throws {
        let x25519PKCS8 = hexBytes("302e020100300506032b656e04220420608ab268fa653deb2cd110bb59e6241a24ca69c32e625605ab0e0d212297a970")
        for data in [x25519PKCS8, Array(oldPEM(x25519PKCS8, "PRIVATE KEY").utf8)] {
            XCTAssertThrowsError(try PrivateKey(pkcs8: data)) { XCTAssertEqual(($0 as? KeyError)?.code, .unsupportedKey) }
        }
        let x25519SPKI = hexBytes("302a300506032b656e032100") + [UInt8](repeating: 9, count: 32)
        for data in [x25519SPKI, Array(oldPEM(x25519SPKI, "PUBLIC KEY").utf8)] {
            XCTAssertThrowsError(try PublicKey(pemOrDER: data)) { XCTAssertEqual(($0 as? KeyError)?.code, .unsupportedKey) }
        }
        // Nor an Ed25519 key with parameters, trailing bytes, or a short key.
        let ed = PrivateKey.generate(.edDSA).publicKey.spki
        for bad in [ed + [0], Array(ed.dropLast()), hexBytes("302c300706032b65700500032100") + Array(ed.suffix(32))] {
            XCTAssertThrowsError(try PublicKey(spki: bad)) { XCTAssertEqual(($0 as? KeyError)?.code, .unsupportedKey) }
        }
        XCTAssertThrowsError(try PrivateKey(pkcs8: Array("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n".utf8))) {
            XCTAssertEqual(($0 as? KeyError)?.code, .unsupportedKey)
        }
    }

    /// New with swift-crypto's reader: a P-256 key in SEC 1 ("EC PRIVATE KEY", as `openssl ecparam -genkey` writes it).
    func testSEC1P256KeysFromOpenSSL() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return XCTFail("openssl is not installed (apt-get install openssl; scripts/setup does)") }
        let path = dir.appendingPathComponent("sec1.pem").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        chmod(path, 0o600)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("-----BEGIN EC PRIVATE KEY-----"))
        let key = try PrivateKey.load(path: path)
        XCTAssertEqual(key.algorithm, .es256)
        XCTAssertEqual(try PublicKey.load(path: path), key.publicKey)
        XCTAssertTrue(key.publicKey.isValidSignature(key.sign([1, 2, 3]), for: [1, 2, 3]))
    }
}
