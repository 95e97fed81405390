import Foundation

/// Where "now" comes from. The workflow never calls `Date()` itself.
public protocol PermitClock: Sendable {
    func now() -> Date
}

/// The machine's clock.
public struct SystemClock: PermitClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that says what it is told: tests, audits and `--at` use it.
public final class FixedClock: PermitClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    public init(_ date: Date) { current = date }
    /// A clock at `seconds` since 1970-01-01 UTC.
    public convenience init(unixSeconds seconds: TimeInterval) { self.init(Date(timeIntervalSince1970: seconds)) }
    public func now() -> Date { lock.lock(); defer { lock.unlock() }; return current }
    public func set(_ date: Date) { lock.lock(); current = date; lock.unlock() }
    public func advance(by seconds: TimeInterval) { lock.lock(); current += seconds; lock.unlock() }
}

