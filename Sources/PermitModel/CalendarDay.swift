import Foundation

/// A calendar day (proleptic Gregorian), written `YYYY-MM-DD`. Permit validity is counted in
/// days of China Standard Time (UTC+08:00, no daylight saving), both ends inclusive.
public struct CalendarDay: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The year, 1–9999.
    public let year: Int
    /// The month, 1–12.
    public let month: Int
    /// The day of the month.
    public let day: Int

    /// China Standard Time's offset from UTC in seconds.
    public static let chinaOffsetSeconds = 8 * 3600

    /// The day, or nil if it is not a real calendar date.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...CalendarDay.daysIn(month: month, year: year)).contains(day) else { return nil }
        self.year = year; self.month = month; self.day = day
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, real date), or returns nil.
    public init?(iso text: String) {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let y = CalendarDay.digits(b[0..<4]), let m = CalendarDay.digits(b[5..<7]),
              let d = CalendarDay.digits(b[8..<10]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// Parses exactly `YYYYMMDD`, as in identity numbers, or returns nil.
    public init?(compact text: Substring) {
        let b = Array(text.utf8)
        guard b.count == 8, let y = CalendarDay.digits(b[0..<4]), let m = CalendarDay.digits(b[4..<6]),
              let d = CalendarDay.digits(b[6..<8]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The day with this count of days since 1970-01-01.
    public init(daysSinceEpoch: Int) {
        // Howard Hinnant's civil_from_days.
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.year = yoe + era * 400 + (m <= 2 ? 1 : 0)
        self.month = m
        self.day = d
    }

    /// The day in China Standard Time at instant `date`.
    public static func inChina(at date: Date) -> CalendarDay {
        let seconds = Int((date.timeIntervalSince1970).rounded(.down)) + chinaOffsetSeconds
        return CalendarDay(daysSinceEpoch: Int((Double(seconds) / 86_400).rounded(.down)))
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The day `n` days later (earlier if negative).
    public func adding(days n: Int) -> CalendarDay { CalendarDay(daysSinceEpoch: daysSinceEpoch + n) }

    /// Unix seconds of 00:00 China Standard Time on this day.
    public var startInChina: Int64 { Int64(daysSinceEpoch) * 86_400 - Int64(CalendarDay.chinaOffsetSeconds) }

    /// `YYYY-MM-DD`.
    public var description: String {
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Orders days chronologically.
    public static func < (lhs: CalendarDay, rhs: CalendarDay) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// Encodes as `"YYYY-MM-DD"`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer(); try c.encode(description)
    }

    /// Decodes `"YYYY-MM-DD"`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let d = CalendarDay(iso: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a YYYY-MM-DD date: \(s)")
        }
        self = d
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        var v = 0
        for b in bytes {
            guard b >= 0x30, b <= 0x39 else { return nil }
            v = v * 10 + Int(b - 0x30)
        }
        return v
    }
}

/// A permit's validity: whole days in China Standard Time, both ends inclusive.
public struct ValidityPeriod: Codable, Sendable, Hashable {
    /// The first day.
    public let from: CalendarDay
    /// The last day.
    public let to: CalendarDay

    /// A period; `from` should not be after `to` (the validator checks this).
    public init(from: CalendarDay, to: CalendarDay) { self.from = from; self.to = to }

    /// Days covered, both ends counted.
    public var days: Int { to.daysSinceEpoch - from.daysSinceEpoch + 1 }
    /// The CWT `nbf`: Unix seconds of 00:00+08:00 on `from`.
    public var notBefore: Int64 { from.startInChina }
    /// The CWT `exp`: Unix seconds of 00:00+08:00 on the day after `to`.
    public var expires: Int64 { to.adding(days: 1).startInChina }
}
