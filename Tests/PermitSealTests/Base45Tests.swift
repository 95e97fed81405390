import Foundation
import XCTest
@testable import PermitSeal

final class Base45Tests: XCTestCase {
    func testRFC9285Vectors() throws {
        let json = try fixtureJSON("vectors/base45/rfc9285.json") as! [String: Any]
        let encode = json["encode"] as! [[String: String]]
        let invalid = json["decode_invalid"] as! [[String: String]]
        var failures = 0
        for v in encode {
            let bytes = Array(v["bytes_utf8"]!.utf8)
            if Base45.encode(bytes) != v["base45"]! { failures += 1; XCTFail("encode \(v)") }
            if (try? Base45.decode(v["base45"]!)) != bytes { failures += 1; XCTFail("decode \(v)") }
        }
        for v in invalid {
            do {
                _ = try Base45.decode(v["base45"]!)
                failures += 1
                XCTFail("accepted invalid \(v["base45"]!) (\(v["why"]!))")
            } catch {}
        }
        XCTAssertGreaterThanOrEqual(encode.count + invalid.count, 10)
        reportVectors("base45-rfc9285", cases: encode.count + invalid.count, failures: failures)
    }

    func testReasonsForInvalidInput() {
        XCTAssertThrowsError(try Base45.decode("GGW")) { XCTAssertEqual(($0 as? Base45.DecodingError)?.kind, .valueTooLarge) }
        XCTAssertThrowsError(try Base45.decode("A")) { XCTAssertEqual(($0 as? Base45.DecodingError)?.kind, .danglingCharacter) }
        XCTAssertThrowsError(try Base45.decode("BB8=")) { XCTAssertEqual(($0 as? Base45.DecodingError)?.kind, .danglingCharacter) }
        XCTAssertThrowsError(try Base45.decode("bb8")) { XCTAssertEqual(($0 as? Base45.DecodingError)?.kind, .invalidCharacter) }
        XCTAssertThrowsError(try Base45.decode(":;")) { XCTAssertEqual(($0 as? Base45.DecodingError)?.offset, 1) }
    }

    func testRandomRoundTrips() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertEqual(try Base45.decode(Base45.encode(bytes)), bytes)
        }
    }
}
