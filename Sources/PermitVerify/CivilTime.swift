import Foundation
import PermitFoundation
import PermitModel
import PermitSeal

/// Calendar arithmetic on Unix seconds without Foundation formatters: results and displays are
/// made per payload, and a formatter costs more than the rest of a refusal.
public enum CivilTime {
    /// `YYYY-MM-DD` of the instant in the zone `offset` seconds east of UTC (China Standard Time by default).
    public static func day(_ seconds: Int64, offset: Int = CalendarDay.chinaOffsetSeconds) -> String {
        let local = Int(seconds) + offset
        return CalendarDay(daysSinceEpoch: local >= 0 ? local / 86400 : (local - 86399) / 86400).description
    }

    /// RFC 3339 in UTC, whole seconds: `2025-12-06T00:00:00Z`.
    public static func rfc3339(_ seconds: Int64) -> String { RFC3339.string(Date(timeIntervalSince1970: TimeInterval(seconds))) }

    public static func rfc3339(_ date: Date) -> String { RFC3339.string(date) }
}
