import Foundation
import PermitAPI
import XCTest

/// The wire's times are whole Unix milliseconds: an integer, never a fraction, whatever the
/// precision of the Date, and they read back to the same millisecond.
final class WireJSONTests: XCTestCase {
    struct Stamped: Codable, Equatable { var at: Date }

    func testTimesAreWholeMilliseconds() throws {
        for (seconds, expected) in [(1_796_000_400.000_5, "1796000400000"), (1_796_000_400.123_456, "1796000400123"),
                                    (1_796_000_400.999_9, "1796000400999"), (0, "0"), (-0.000_5, "-1")] {
            let text = String(decoding: try WireJSON.encode(Stamped(at: Date(timeIntervalSince1970: seconds))), as: UTF8.self)
            XCTAssertEqual(text, "{\"at\":\(expected)}", "\(seconds)")
            let back = try WireJSON.decode(Stamped.self, from: Data(text.utf8))
            XCTAssertEqual(Int64((back.at.timeIntervalSince1970 * 1000).rounded()), Int64(expected), "\(seconds)")
        }
    }
}
