import Foundation
import PermitFoundation
import XCTest

final class HexTests: XCTestCase {
    func testEncodesLowercaseAndDecodesEitherCase() {
        XCTAssertEqual(Hex.encode([UInt8]()), "")
        XCTAssertEqual(Hex.encode([0x00, 0x0f, 0xa0, 0xff]), "000fa0ff")
        XCTAssertEqual(Hex.encode(Data([0xde, 0xad]).prefix(1)), "de")
        XCTAssertEqual(Hex.decode("000fA0Ff"), [0x00, 0x0f, 0xa0, 0xff])
        XCTAssertEqual(Hex.decode(""), [])
        let all = (0...255).map(UInt8.init)
        XCTAssertEqual(Hex.decode(Hex.encode(all)), all)
        XCTAssertEqual(Hex.decode(Hex.encode(all).uppercased()), all)
    }

    func testRefusesOddLengthAndNonHex() {
        for bad in ["0", "abc", "0g", "zz", " 00", "00 ", "0x00", "éé"] {
            XCTAssertNil(Hex.decode(bad), bad)
        }
    }
}

final class HashingTests: XCTestCase {
    /// FIPS 180-2's examples.
    func testSHA256KnownAnswers() {
        XCTAssertEqual(Hashing.sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Hashing.sha256Hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Hashing.sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(Hashing.sha256(Data("abc".utf8)).count, 32)
        XCTAssertEqual(Hex.encode(Hashing.sha256(Data("abc".utf8))), Hashing.sha256Hex(Array("abc".utf8)))
    }
}
