import Foundation

/// Calendar arithmetic on Unix seconds without Foundation formatters: results and displays are
/// made per payload, and a formatter costs more than the rest of a refusal.
public enum CivilTime {
    /// China Standard Time, in which permit validity days are counted.
    public static let chinaOffset = 8 * 3600

    /// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01
    /// (H. Hinnant's `civil_from_days`).
    public static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// `YYYY-MM-DD` of the instant in the zone `offset` seconds east of UTC.
    public static func day(_ seconds: Int64, offset: Int = chinaOffset) -> String {
        let local = Int(seconds) + offset
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let (y, m, d) = civil(fromDays: days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// RFC 3339 in UTC, whole seconds: `2025-12-06T00:00:00Z`.
    public static func rfc3339(_ seconds: Int64) -> String {
        let s = Int(seconds)
        let days = s >= 0 ? s / 86400 : (s - 86399) / 86400
        let rest = s - days * 86400
        let (y, m, d) = civil(fromDays: days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):\(pad(rest % 60, 2))Z"
    }

    public static func rfc3339(_ date: Date) -> String { rfc3339(Int64(date.timeIntervalSince1970.rounded(.down))) }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
