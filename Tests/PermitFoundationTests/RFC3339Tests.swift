import Foundation
@testable import PermitFoundation
import XCTest

final class RFC3339Tests: XCTestCase {
    /// Our hand-written RFC 3339 agrees with Foundation's ISO 8601 formatter across many instants.
    func testAgreesWithFoundation() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let t = Double(Int64.random(in: -2_000_000_000...6_000_000_000, using: &rng))
            let date = Date(timeIntervalSince1970: t)
            XCTAssertEqual(RFC3339.string(date), f.string(from: date))
            XCTAssertEqual(RFC3339.date(f.string(from: date)), date)
        }
        XCTAssertEqual(RFC3339.date("2026-12-01T00:00:00+08:00"), Date(timeIntervalSince1970: 1_796_054_400))
        XCTAssertEqual(RFC3339.date("2024-02-29T12:00:00.5Z"), Date(timeIntervalSince1970: 1_709_208_000.5))
        for bad in ["2026-02-30T00:00:00Z", "2026-12-01", "2026-12-01T00:00:00", "2026-13-01T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T00:00:00+0800"] {
            XCTAssertNil(RFC3339.date(bad), bad)
        }
    }
}

final class CivilDateTests: XCTestCase {
    /// The date arithmetic agrees with Foundation's Gregorian calendar from year 1 to 9999, and
    /// `init?(year:month:day:)` knows the leap years.
    func testAgreesWithFoundationsCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let first = CivilDate(year: 1, month: 1, day: 1)!.daysSinceEpoch
        let last = CivilDate(year: 9999, month: 12, day: 31)!.daysSinceEpoch
        XCTAssertEqual(first, -719_162)
        XCTAssertEqual(last, 2_932_896)
        var days = Array(stride(from: first, through: last, by: 997)) + [first, last, -1, 0, 1, 11_016, 10_957]
        days += (0..<500).map { _ in Int.random(in: first...last) }
        for n in days {
            let date = CivilDate(daysSinceEpoch: n)
            XCTAssertEqual(date.daysSinceEpoch, n)
            XCTAssertEqual(CivilDate(year: date.year, month: date.month, day: date.day)?.daysSinceEpoch, n)
            // Foundation's proleptic Gregorian calendar switches to Julian before 1582; compare after.
            if date.year > 1600 {
                let c = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(n) * 86_400))
                XCTAssertEqual([date.year, date.month, date.day], [c.year!, c.month!, c.day!], "\(n)")
            }
        }
        XCTAssertNotNil(CivilDate(year: 2000, month: 2, day: 29))
        XCTAssertNotNil(CivilDate(year: 2024, month: 2, day: 29))
        XCTAssertNil(CivilDate(year: 1900, month: 2, day: 29))
        XCTAssertNil(CivilDate(year: 2100, month: 2, day: 29))
        XCTAssertNil(CivilDate(year: 0, month: 1, day: 1))
        XCTAssertNil(CivilDate(year: 2026, month: 4, day: 31))
        XCTAssertEqual(RFC3339.string(Date(timeIntervalSince1970: Double(last) * 86_400 + 86_399.9)), "9999-12-31T23:59:59Z")
        XCTAssertEqual(RFC3339.string(Date(timeIntervalSince1970: -0.5)), "1969-12-31T23:59:59Z")
    }
}
