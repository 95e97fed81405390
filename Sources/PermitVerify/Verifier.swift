import Foundation
import PermitFoundation
import PermitModel
import PermitSeal

/// The checkpoint's verifier: runs the checks of payload spec §6 in order and reports the first
/// that refuses, or valid.
///
/// 1–4 prefix, Base45, bounded inflate, COSE structure (`PermitText.decode`); 5 algorithm, from
/// the protected header only; 6 key lookup by kid; 7 signature; 8 claims and issuer binding;
/// 9 key valid at `iat`; 10 the policies, in order. Nothing from the claims is trusted (or
/// returned) before the signature has verified.
///
/// A verifier is immutable and safe to share between threads. It keeps one zlib inflater (whose
/// calls are serialised); give each thread its own verifier for parallel throughput.
public final class Verifier: Sendable {
    /// Five minutes, the spec's default clock skew.
    public static let defaultSkew: TimeInterval = 300

    public let trust: TrustStore
    public let clock: any VerifierClock
    public let policies: [any PermitPolicy]
    private let zlib: Zlib

    /// A verifier with explicit policies (run in the order given).
    public init(trust: TrustStore, clock: any VerifierClock = SystemClock(), policies: [any PermitPolicy]) {
        self.trust = trust
        self.clock = clock
        self.policies = policies
        self.zlib = Zlib(maxOutput: 64 * 1024)
    }

    /// A verifier with the standard policies: validity window with `skew`, revocation, plate
    /// match when `expectedPlate` is given, then the staleness warnings of both kinds of list,
    /// then any `additionalPolicies`.
    public convenience init(trust: TrustStore, revocations: [RevocationSet] = [], clock: any VerifierClock = SystemClock(),
                            skew: TimeInterval = Verifier.defaultSkew, expectedPlate: String? = nil,
                            additionalPolicies: [any PermitPolicy] = []) {
        self.init(trust: trust, clock: clock,
                  policies: Verifier.standardPolicies(trust: trust, revocations: revocations, skew: skew, expectedPlate: expectedPlate)
                      + additionalPolicies)
    }

    /// The policies of check 10, in the spec's order.
    public static func standardPolicies(trust: TrustStore, revocations: [RevocationSet], skew: TimeInterval,
                                        expectedPlate: String?) -> [any PermitPolicy] {
        var policies: [any PermitPolicy] = [ValidityWindowPolicy(skew: skew), RevocationPolicy(revocations)]
        if let expectedPlate { policies.append(PlateMatchPolicy(expectedPlate: expectedPlate)) }
        policies.append(TrustListFreshnessPolicy(nextUpdate: trust.nextUpdate))
        policies.append(RevocationListFreshnessPolicy(revocations))
        return policies
    }

    /// Verifies one `FP1:` text at the clock's current time.
    public func verify(_ text: String) -> VerificationResult {
        verify(text, at: clock.now())
    }

    /// Verifies one `FP1:` text at `now`.
    public func verify(_ text: String, at now: Date) -> VerificationResult {
        var warnings: [VerificationWarning] = []
        for policy in policies {
            let w = policy.warnings(at: now)
            if !w.isEmpty { warnings += w }
        }
        func refuse(_ reason: VerificationReason, _ stage: VerificationStage, _ detail: String,
                    claims: PermitClaims? = nil, signer: TrustStore.Key? = nil) -> VerificationResult {
            .refused(.init(reason), stage: stage.rawValue, detail, claims: claims, signer: signer.map { PermitSigner($0) }, warnings: warnings)
        }

        // 1–4
        let decoded: DecodedPayload
        do {
            decoded = try PermitText.decode(text, zlib: zlib)
        } catch {
            return refuse(error.reason, VerificationStage(decoding: error.reason), error.detail)
        }
        let cose = decoded.cose

        // 5: alg from the protected header only, so that it is covered by the signature.
        let algorithm: KeyAlgorithm
        do {
            algorithm = try cose.algorithm(protectedOnly: true)
        } catch {
            return refuse(.unsupportedAlgorithm, .algorithm, error.detail)
        }

        // 6
        guard let kid = cose.kid else {
            return refuse(.unknownKey, .keyLookup, "the payload names no kid (a byte string under label 4)")
        }
        let candidates = trust.keys(withKid: kid)
        if candidates.isEmpty {
            return refuse(.unknownKey, .keyLookup, "no trusted key has kid \(Hex.encode(kid))")
        }

        // 7: every key with that kid and algorithm, until one verifies.
        let toBeSigned = cose.toBeSigned()
        var signer: TrustStore.Key?
        for candidate in candidates where candidate.key.algorithm == algorithm {
            if candidate.key.isValidSignature(cose.signature, for: toBeSigned) {
                signer = candidate
                break
            }
        }
        guard let signer else {
            let matching = candidates.lazy.filter { $0.key.algorithm == algorithm }.count
            return refuse(.signatureInvalid, .signature, matching == 0
                ? "the \(candidates.count) trusted key(s) with kid \(Hex.encode(kid)) are not \(algorithm.rawValue) keys"
                : "the signature does not verify with the \(matching) trusted \(algorithm.rawValue) key(s) with kid \(Hex.encode(kid))")
        }

        // 8: types and limits, then the binding of iss to the signer and the number.
        let claims: PermitClaims
        do {
            claims = try PermitClaims(decoding: cose.payload, decoder: PermitText.decoder)
        } catch {
            return refuse(.claimsMalformed, .claims, error.description, signer: signer)
        }
        guard claims.issuer == signer.authority else {
            return refuse(.issuerMismatch, .claims, "iss \(claims.issuer) is not the signing key's authority \(signer.authority)",
                          claims: claims, signer: signer)
        }
        guard claims.permit.number.utf8.starts(with: claims.issuer.utf8) else {
            return refuse(.issuerMismatch, .claims, "permit number \(claims.permit.number) does not start with iss \(claims.issuer)",
                          claims: claims, signer: signer)
        }

        // 9: iat may be any uint; as a double it compares without trapping (far in the future is
        // after every key's notAfter), and the detail writes it by CivilTime's rule.
        let issuedAt = Date(timeIntervalSince1970: TimeInterval(claims.issuedAt))
        guard signer.maySign(at: issuedAt) else {
            return refuse(.keyNotValidAtIssuance, .keyValidity,
                          "issued at \(CivilTime.rfc3339(claim: claims.issuedAt)), outside key \(Hex.encode(signer.kid))'s signing window \(CivilTime.rfc3339(signer.notBefore))…\(CivilTime.rfc3339(signer.notAfter))",
                          claims: claims, signer: signer)
        }

        // 10
        let permit = VerifiedPermit(claims: claims, signature: cose.signature, signer: signer)
        for policy in policies {
            if case .failsToMeetPolicy(let reason, let detail) = policy.evaluate(permit, at: now) {
                return .refused(.init(reason), stage: policy.name, detail, claims: claims,
                                signer: PermitSigner(signer), warnings: warnings)
            }
        }
        return VerificationResult(outcome: .valid, reason: nil, stage: nil, detail: nil,
                                  claims: claims, signer: PermitSigner(signer), warnings: warnings)
    }
}
