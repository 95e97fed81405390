import Foundation
import PermitTestSupport
import XCTest
import PermitSeal
@testable import PermitVerify

/// The contract allows any uint in `exp`, `nbf` and `iat` (payload spec §3). A correctly signed
/// permit with absurd times is judged by the same rules as any other, and never traps.
final class ClaimTimeLimitTests: XCTestCase {
    let world = World()

    static let max63 = UInt64(Int64.max)   // 2^63 − 1
    static let two63 = UInt64(1) << 63     // 2^63
    static let max64 = UInt64.max          // 2^64 − 1

    /// The sample claims with some times replaced.
    static func claims(exp: UInt64? = nil, nbf: UInt64? = nil, iat: UInt64? = nil) -> PermitClaims {
        var claims = sampleClaims()
        if let exp { claims.expiresAt = exp }
        if let nbf { claims.notBefore = nbf }
        if let iat { claims.issuedAt = iat }
        return claims
    }

    struct Case {
        var name: String
        var claims: PermitClaims
        /// nil for valid.
        var reason: VerificationResult.Reason?
        var stage: String?
    }

    /// Every case, with its verdict at `T.during` (keys valid 2025-01-01…2026-12-31).
    static let cases: [Case] = [
        Case(name: "exp 2^63-1", claims: claims(exp: max63), reason: nil, stage: nil),
        Case(name: "exp 2^63", claims: claims(exp: two63), reason: nil, stage: nil),
        Case(name: "exp 2^64-1", claims: claims(exp: max64), reason: nil, stage: nil),
        Case(name: "exp 0", claims: claims(exp: 0), reason: .claimsMalformed, stage: "claims"),
        Case(name: "nbf 0", claims: claims(nbf: 0), reason: nil, stage: nil),
        Case(name: "nbf 0, exp 2^64-1", claims: claims(exp: max64, nbf: 0), reason: nil, stage: nil),
        Case(name: "nbf 2^63-1, exp 2^63", claims: claims(exp: two63, nbf: max63), reason: .notYetValid, stage: "validityWindow"),
        Case(name: "nbf 2^63, exp 2^64-1", claims: claims(exp: max64, nbf: two63), reason: .notYetValid, stage: "validityWindow"),
        Case(name: "nbf 2^63-1 (exp not after it)", claims: claims(nbf: max63), reason: .claimsMalformed, stage: "claims"),
        Case(name: "nbf 2^64-1, exp 2^64-1", claims: claims(exp: max64, nbf: max64), reason: .claimsMalformed, stage: "claims"),
        Case(name: "iat 2^63-1", claims: claims(iat: max63), reason: .keyNotValidAtIssuance, stage: "keyValidity"),
        Case(name: "iat 2^63", claims: claims(iat: two63), reason: .keyNotValidAtIssuance, stage: "keyValidity"),
        Case(name: "iat 2^64-1", claims: claims(iat: max64), reason: .keyNotValidAtIssuance, stage: "keyValidity"),
        Case(name: "iat 0", claims: claims(iat: 0), reason: .keyNotValidAtIssuance, stage: "keyValidity"),
        // Key validity (check 9) runs before the validity window (check 10).
        Case(name: "all three huge", claims: claims(exp: max64, nbf: two63, iat: max63), reason: .keyNotValidAtIssuance, stage: "keyValidity"),
    ]

    func testHugeAndZeroTimesGetTheContractsVerdicts() throws {
        let verifier = try world.verifier()
        let sealer = PermitSealer(key: world.qiantang)
        for c in Self.cases {
            let result = verifier.verify(try sealer.seal(c.claims).text)
            XCTAssertEqual(result.outcome, c.reason?.outcome ?? .valid, "\(c.name): \(result.detail ?? "")")
            XCTAssertEqual(result.reason, c.reason, "\(c.name): \(result.detail ?? "")")
            XCTAssertEqual(result.stage, c.stage, c.name)
            if c.reason == .claimsMalformed {
                XCTAssertNil(result.claims, c.name)
            } else {
                XCTAssertEqual(result.claims, c.claims, "\(c.name): the signed values are reported exactly")
                XCTAssertEqual(result.signer?.authority, "330114", c.name)
            }
        }
    }

    func testDetailsShowUnrepresentableTimesAsTheClaimsNumber() throws {
        let verifier = try world.verifier()
        let sealer = PermitSealer(key: world.qiantang)
        let lateIssue = verifier.verify(try sealer.seal(Self.claims(iat: Self.two63)).text)
        XCTAssertTrue(lateIssue.detail?.hasPrefix("issued at 9223372036854775808, outside key ") == true, lateIssue.detail ?? "")
        XCTAssertTrue(lateIssue.detail?.hasSuffix("signing window \(CivilTime.rfc3339(T.keysFrom))…\(CivilTime.rfc3339(T.keysUntil))") == true,
                      lateIssue.detail ?? "")
        let lateStart = verifier.verify(try sealer.seal(Self.claims(exp: Self.max64, nbf: Self.max63)).text)
        XCTAssertTrue(lateStart.detail?.hasPrefix("valid from 9223372036854775807; now is 2025-12-08T16:00:00Z (skew 300 s)") == true,
                      lateStart.detail ?? "")
        // Representable times keep RFC 3339.
        let early = verifier.verify(try sealer.seal(Self.claims(iat: 0)).text)
        XCTAssertTrue(early.detail?.hasPrefix("issued at 1970-01-01T00:00:00Z, outside key ") == true, early.detail ?? "")
    }

    func testIatZeroIsValidForAKeyFromTheEpoch() throws {
        let list = TrustList(sequence: 4, issuedAt: T.listIssued, nextUpdate: T.listNext,
                             keys: [world.entry(world.qiantang, "330114", from: Date(timeIntervalSince1970: 0), until: T.keysUntil)])
        let result = try world.verifier(world.store(list)).verify(try PermitSealer(key: world.qiantang).seal(Self.claims(iat: 0)).text)
        XCTAssertEqual(result.outcome, .valid, result.detail ?? "")
    }

    func testHugeExpiryIsExpiredOnlyForAClockPastIt() throws {
        // A clock (of some other verifier) beyond 2^63 seconds: the permit expired, and the
        // detail names both instants without trapping.
        let text = try PermitSealer(key: world.qiantang).seal(Self.claims(exp: Self.two63)).text
        let result = try world.verifier(at: Date(timeIntervalSince1970: 1e19)).verify(text)
        assertRefused(result, .expired, stage: "validityWindow")
        XCTAssertTrue(result.detail?.hasPrefix("valid until 9223372036854775808; now is ") == true, result.detail ?? "")
        XCTAssertTrue(try world.verifier(at: Date(timeIntervalSince1970: 9e18)).verify(text).isValid)
    }

    func testHugeSkewWithHugeStart() throws {
        // `permit verify --skew` takes any Int: the detail's skew must not trap either.
        let text = try PermitSealer(key: world.qiantang).seal(Self.claims(exp: Self.max64, nbf: Self.max64 - 1)).text
        let result = try world.verifier(skew: TimeInterval(Int.max)).verify(text)
        assertRefused(result, .notYetValid, stage: "validityWindow")
        XCTAssertTrue(result.detail?.hasSuffix("(skew 9223372036854775808 s)") == true, result.detail ?? "")
    }

    func testCivilTimeOfClaims() {
        XCTAssertEqual(CivilTime.rfc3339(claim: 0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(CivilTime.rfc3339(claim: UInt64(T.nbf)), "2025-12-05T16:00:00Z")
        XCTAssertEqual(CivilTime.day(claim: UInt64(T.nbf)), "2025-12-06")
        XCTAssertEqual(CivilTime.lastDay(expiresAt: UInt64(T.exp)), "2025-12-19")
        // The last instant of year 9999: in UTC, and in China Standard Time.
        XCTAssertEqual(CivilTime.rfc3339(claim: 253_402_300_799), "9999-12-31T23:59:59Z")
        XCTAssertEqual(CivilTime.rfc3339(claim: 253_402_300_800), "253402300800")
        XCTAssertEqual(CivilTime.day(claim: 253_402_271_999), "9999-12-31")
        XCTAssertEqual(CivilTime.day(claim: 253_402_272_000), "253402272000")
        XCTAssertEqual(CivilTime.lastDay(expiresAt: 253_402_272_000), "9999-12-31")
        XCTAssertEqual(CivilTime.lastDay(expiresAt: 253_402_272_001), "253402272001", "the claim's own number, not exp − 1")
        for v in [Self.max63 - 1, Self.max63, Self.two63, Self.max64] {
            XCTAssertEqual(CivilTime.rfc3339(claim: v), String(v))
            XCTAssertEqual(CivilTime.day(claim: v), String(v))
            XCTAssertEqual(CivilTime.lastDay(expiresAt: v), String(v))
        }
        XCTAssertEqual(CivilTime.lastDay(expiresAt: 0), "1970-01-01")
        // The Int64 forms are total too.
        XCTAssertEqual(CivilTime.rfc3339(Int64.max), String(Int64.max))
        XCTAssertEqual(CivilTime.rfc3339(Int64.min), String(Int64.min))
        XCTAssertEqual(CivilTime.day(Int64.max), String(Int64.max))
        XCTAssertEqual(CivilTime.day(Int64.min), String(Int64.min))
        XCTAssertEqual(CivilTime.day(-62_135_596_800, offset: 0), "0001-01-01")
        XCTAssertEqual(CivilTime.rfc3339(Date(timeIntervalSince1970: 1e19)), "1e+19")
        XCTAssertEqual(CivilTime.rfc3339(Date(timeIntervalSince1970: T.nbf + 0.5)), "2025-12-05T16:00:00Z")
    }
}
