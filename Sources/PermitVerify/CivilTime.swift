import Foundation
import PermitFoundation
import PermitModel
import PermitSeal

/// Calendar arithmetic on Unix seconds without Foundation formatters: results and displays are
/// made per payload, and a formatter costs more than the rest of a refusal.
///
/// **Every function here is total.** The claims `exp`, `nbf` and `iat` may hold any uint
/// (payload spec §3), and a correctly signed permit with an absurd time must get a verdict, not
/// a trap. The rule, the same for the verifier's details, `permit verify`'s line and its
/// `--json`: a time is written as a date (`YYYY-MM-DD`, or RFC 3339 in UTC) when that date lies
/// in the years 1–9999, the range of RFC 3339's four-digit years and of `CalendarDay`;
/// otherwise it is written as the claim's own decimal seconds since 1970, e.g.
/// `"18446744073709551615"`. Digits alone are never a date, so a reader tells the two apart, and
/// the number is exactly the signed value.
public enum CivilTime {
    /// The instants whose UTC date lies in the years 1–9999:
    /// 0001-01-01T00:00:00Z … 9999-12-31T23:59:59Z.
    public static let representable: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// `YYYY-MM-DD` of the instant in the zone `offset` seconds east of UTC (China Standard Time
    /// by default), or `seconds` in decimal when that day is outside the years 1–9999.
    public static func day(_ seconds: Int64, offset: Int = CalendarDay.chinaOffsetSeconds) -> String {
        dayIfRepresentable(seconds, offset: offset) ?? String(seconds)
    }

    /// RFC 3339 in UTC, whole seconds: `2025-12-06T00:00:00Z`; `seconds` in decimal when its year
    /// is outside 1–9999.
    public static func rfc3339(_ seconds: Int64) -> String { rfc3339IfRepresentable(seconds) ?? String(seconds) }

    /// RFC 3339 in UTC, whole seconds (rounded down); for an instant outside the years 1–9999
    /// (which no verified list holds, but an injected clock might), its seconds since 1970 as a
    /// number.
    public static func rfc3339(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        // Written so that NaN fails too.
        guard t >= Double(representable.lowerBound), t < Double(representable.upperBound) + 1 else { return "\(t)" }
        return RFC3339.string(date)
    }

    // MARK: Claims (any uint)

    /// The day (China Standard Time) of a claim such as `nbf`: the first day of validity.
    public static func day(claim seconds: UInt64) -> String {
        seconds <= UInt64(Int64.max) ? day(Int64(seconds)) : String(seconds)
    }

    /// The last day of validity, the day (China Standard Time) of `exp − 1` (spec §3: `exp` is
    /// 00:00+08:00 of the day after the last day). When that day is not representable, `exp`
    /// itself in decimal: the number shown is always the claim's.
    public static func lastDay(expiresAt exp: UInt64) -> String {
        guard exp <= UInt64(Int64.max) else { return String(exp) }
        return dayIfRepresentable(Int64(exp) - 1, offset: CalendarDay.chinaOffsetSeconds) ?? String(exp)
    }

    /// RFC 3339 in UTC of a claim such as `exp`, `nbf` or `iat`.
    public static func rfc3339(claim seconds: UInt64) -> String {
        seconds <= UInt64(Int64.max) ? rfc3339(Int64(seconds)) : String(seconds)
    }

    // MARK: -

    private static func dayIfRepresentable(_ seconds: Int64, offset: Int) -> String? {
        let (local, overflow) = seconds.addingReportingOverflow(Int64(offset))
        guard !overflow, representable.contains(local) else { return nil }
        return CalendarDay(daysSinceEpoch: Int(local >= 0 ? local / 86400 : (local - 86399) / 86400)).description
    }

    private static func rfc3339IfRepresentable(_ seconds: Int64) -> String? {
        guard representable.contains(seconds) else { return nil }
        return RFC3339.string(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
