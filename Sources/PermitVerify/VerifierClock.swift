import Foundation

/// Where a verifier takes "now" from. Injected, so that tests and `--at` can fix the time.
///
/// Named `VerifierClock` rather than `Clock` so that it does not collide with the standard
/// library's `Clock` protocol (Swift concurrency) in files that import both.
public protocol VerifierClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The system's wall clock.
public struct SystemClock: VerifierClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock stopped at one instant: for tests and for `permit verify --at`.
public struct FixedClock: VerifierClock {
    public var date: Date
    public init(_ date: Date) { self.date = date }
    /// A clock stopped at `seconds` since 1970-01-01 UTC.
    public init(unixSeconds seconds: TimeInterval) { self.date = Date(timeIntervalSince1970: seconds) }
    public func now() -> Date { date }
}
