import Foundation
import PermitModel
import PermitSeal

/// Calendar arithmetic on Unix seconds without Foundation formatters: results and displays are
/// made per payload, and a formatter costs more than the rest of a refusal.
public enum CivilTime {
    /// China Standard Time, in which permit validity days are counted.
    public static let chinaOffset = 8 * 3600

    /// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01
    /// (H. Hinnant's `civil_from_days`).
    public static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let d = CalendarDay(daysSinceEpoch: days)
        return (d.year, d.month, d.day)
    }

    /// `YYYY-MM-DD` of the instant in the zone `offset` seconds east of UTC.
    public static func day(_ seconds: Int64, offset: Int = chinaOffset) -> String {
        let local = Int(seconds) + offset
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let (y, m, d) = civil(fromDays: days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// RFC 3339 in UTC, whole seconds: `2025-12-06T00:00:00Z`.
    public static func rfc3339(_ seconds: Int64) -> String { RFC3339.string(Date(timeIntervalSince1970: TimeInterval(seconds))) }

    public static func rfc3339(_ date: Date) -> String { RFC3339.string(date) }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
