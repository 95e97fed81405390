import PermitModel

/// Where a verifier takes "now" from: the project's one clock protocol (`PermitClock`, with
/// `SystemClock` and `FixedClock`), injected so that tests and `--at` can fix the time.
/// Named `VerifierClock` here, not `Clock`, so that it does not collide with the standard
/// library's `Clock` protocol in files that import both.
public typealias VerifierClock = PermitClock
