import Foundation
import PermitModel
import PermitSeal

/// A permit whose signature has verified with a trusted key and whose claims have been read:
/// what policies decide on.
public struct VerifiedPermit: Sendable {
    public var claims: PermitClaims
    /// The COSE signature bytes (the revocation hash is computed over them).
    public var signature: [UInt8]
    /// The trusted key that verified the signature.
    public var signer: TrustStore.Key
}

/// What one policy decided.
public enum PolicyEvaluation: Hashable, Sendable {
    case meetsPolicy
    case failsToMeetPolicy(VerificationReason, detail: String)
}

/// One checkpoint rule applied after the signature and claims checks (payload spec §6, check 10),
/// in the manner of swift-certificates' `VerifierPolicy`: each policy decides one thing, and
/// refuses with a reason code.
public protocol PermitPolicy: Sendable {
    /// A stable name; a result names the policy that refused.
    var name: String { get }

    /// Whether `permit` meets the policy at `now`.
    func evaluate(_ permit: VerifiedPermit, at now: Date) -> PolicyEvaluation

    /// Warnings about the verifier's own inputs (such as a stale list) that hold whatever the
    /// payload, so they are reported with every result, even one refused before check 10.
    /// They never change the outcome. The default is none.
    func warnings(at now: Date) -> [VerificationWarning]
}

extension PermitPolicy {
    public func warnings(at now: Date) -> [VerificationWarning] { [] }
}

/// The validity window with clock skew: `nbf − skew ≤ now < exp + skew`.
///
/// `nbf` and `exp` may be any uint. They are compared as doubles (as the web verifier does), which
/// neither traps nor overflows: an `exp` far in the future is simply not expired, an `nbf` far in
/// the future is not yet valid. Rounding only matters for instants beyond 2^53 seconds, where it
/// cannot turn one side of any real clock into the other.
public struct ValidityWindowPolicy: PermitPolicy {
    public var name: String { "validityWindow" }
    public var skew: TimeInterval
    public init(skew: TimeInterval = Verifier.defaultSkew) { self.skew = skew }

    public func evaluate(_ permit: VerifiedPermit, at now: Date) -> PolicyEvaluation {
        let t = now.timeIntervalSince1970
        let nbf = TimeInterval(permit.claims.notBefore), exp = TimeInterval(permit.claims.expiresAt)
        if t < nbf - skew {
            return .failsToMeetPolicy(.notYetValid, detail: "valid from \(CivilTime.rfc3339(claim: permit.claims.notBefore)); now is \(CivilTime.rfc3339(now)) (skew \(skewText) s)")
        }
        if t >= exp + skew {
            return .failsToMeetPolicy(.expired, detail: "valid until \(CivilTime.rfc3339(claim: permit.claims.expiresAt)); now is \(CivilTime.rfc3339(now)) (skew \(skewText) s)")
        }
        return .meetsPolicy
    }

    /// Whole seconds (truncated, as `Int(skew)` wrote them), for any skew: `--skew` takes any Int,
    /// and Int.max as a double is 2^63, one more than Int.max.
    private var skewText: String {
        let whole = skew.rounded(.towardZero)
        if let n = Int64(exactly: whole) { return String(n) }
        if let n = UInt64(exactly: whole) { return String(n) }
        return "\(skew)"
    }
}

/// Revocation: the permit's signature hash must not be in the revocation list of its issuer.
/// A list applies only to permits whose `iss` equals its authority.
public struct RevocationPolicy: PermitPolicy {
    public var name: String { "revocation" }
    private let byAuthority: [String: [RevocationSet]]

    public init(_ lists: [RevocationSet]) {
        byAuthority = Dictionary(grouping: lists, by: \.authority)
    }

    public func evaluate(_ permit: VerifiedPermit, at now: Date) -> PolicyEvaluation {
        guard let lists = byAuthority[permit.claims.issuer] else { return .meetsPolicy }
        let hash = RevocationHash(signature: permit.signature)
        for list in lists where list.hashes.contains(hash) {
            return .failsToMeetPolicy(.revoked, detail: "permit \(permit.claims.permit.number) (hash \(hash)) is in authority \(list.authority)'s revocation list\(list.sequence.map { " #\($0)" } ?? "")")
        }
        return .meetsPolicy
    }
}

/// The plate the officer reads off the truck must be the permit's. Both are compared after NFC
/// normalisation and upper-casing, ignoring spaces and the separators people write inside
/// plates ("浙A·12345", "浙A-12345").
public struct PlateMatchPolicy: PermitPolicy {
    public var name: String { "plateMatch" }
    public let expectedPlate: String
    private let normalizedExpected: String

    public init(expectedPlate: String) {
        self.expectedPlate = expectedPlate
        normalizedExpected = PlateMatchPolicy.normalize(expectedPlate)
    }

    /// Separators a plate may be written with that do not change which plate it is.
    private static let ignored: Set<Unicode.Scalar> = [" ", "\u{3000}", "·", "•", "・", "-", "\u{2027}", "\t"]

    public static func normalize(_ plate: String) -> String {
        String(String.UnicodeScalarView(plate.nfc.uppercased().unicodeScalars.filter { !ignored.contains($0) }))
    }

    public func evaluate(_ permit: VerifiedPermit, at now: Date) -> PolicyEvaluation {
        let plate = permit.claims.permit.vehicle.plate
        if PlateMatchPolicy.normalize(plate) == normalizedExpected { return .meetsPolicy }
        return .failsToMeetPolicy(.plateMismatch, detail: "the permit is for plate \(plate), not \(expectedPlate)")
    }
}

/// Warns when the trust list is past its `nextUpdate`; never refuses.
public struct TrustListFreshnessPolicy: PermitPolicy {
    public var name: String { "trustListFreshness" }
    public let nextUpdate: Date?
    public init(nextUpdate: Date?) { self.nextUpdate = nextUpdate }

    public func evaluate(_ permit: VerifiedPermit, at now: Date) -> PolicyEvaluation { .meetsPolicy }

    public func warnings(at now: Date) -> [VerificationWarning] {
        guard let nextUpdate, now > nextUpdate else { return [] }
        return [VerificationWarning(.trustListStale, "the trust list was due for an update at \(CivilTime.rfc3339(nextUpdate))")]
    }
}

/// Warns when any revocation list is past its `nextUpdate`; never refuses.
public struct RevocationListFreshnessPolicy: PermitPolicy {
    public var name: String { "revocationListFreshness" }
    private let due: [(authority: String, nextUpdate: Date)]

    public init(_ lists: [RevocationSet]) {
        due = lists.compactMap { list in list.nextUpdate.map { (list.authority, $0) } }
    }

    public func evaluate(_ permit: VerifiedPermit, at now: Date) -> PolicyEvaluation { .meetsPolicy }

    public func warnings(at now: Date) -> [VerificationWarning] {
        due.filter { now > $0.nextUpdate }.map {
            VerificationWarning(.revocationListStale, "authority \($0.authority)'s revocation list was due for an update at \(CivilTime.rfc3339($0.nextUpdate))")
        }
    }
}
