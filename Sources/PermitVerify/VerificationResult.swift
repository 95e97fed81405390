import Foundation
import PermitFoundation
import PermitSeal

/// The fixed stages of the pipeline, in the order they run (payload spec §6, checks 1–9).
/// Check 10 is the policies, which a result names by `PermitPolicy.name`.
public enum VerificationStage: String, Codable, Sendable, CaseIterable {
    case prefix, base45, inflate, coseStructure, algorithm, keyLookup, signature, claims, keyValidity
    /// Reading a code from an image, before the pipeline (the CLI's `--image`).
    case scan

    /// The stage whose check produces a decoding reason.
    init(decoding reason: VerificationReason) {
        switch reason {
        case .unknownPrefix: self = .prefix
        case .base45Invalid: self = .base45
        case .decompressionFailed: self = .inflate
        default: self = .coseStructure
        }
    }
}

/// Something the officer should know that does not change the outcome.
public struct VerificationWarning: Codable, Hashable, Sendable {
    public enum Code: String, Codable, Sendable, CaseIterable {
        /// The trust list is past its `nextUpdate`.
        case trustListStale
        /// A revocation list is past its `nextUpdate`.
        case revocationListStale
    }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
}

/// The signer of a verified permit, as the trust list describes it.
public struct PermitSigner: Codable, Hashable, Sendable {
    /// The authority's 6-digit division code.
    public var authority: String
    public var name: String
    public var nameEn: String
    public var phone: String
    /// The signing key's kid, lowercase hex.
    public var kid: String

    public init(_ key: TrustStore.Key) {
        authority = key.authority
        name = key.name
        nameEn = key.nameEn
        phone = key.phone
        kid = Hex.encode(key.kid)
    }
}

/// What a verifier says about one payload.
public struct VerificationResult: Codable, Hashable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        /// Every check passed: the truck may pass.
        case valid
        /// A check refused the payload (`reason` says which).
        case invalid
        /// The payload could not be checked at all (no readable code in an image).
        case error
    }

    /// The reason codes of payload spec §6: the verifier's own, plus `unreadable` for an image
    /// with no readable code. Raw values are stable; scripts match on them.
    public enum Reason: String, Codable, Sendable, CaseIterable {
        case unknownPrefix, base45Invalid, decompressionFailed, coseMalformed, unsupportedAlgorithm
        case unknownKey, signatureInvalid, claimsMalformed, issuerMismatch, keyNotValidAtIssuance
        case notYetValid, expired, revoked, plateMismatch
        case unreadable

        public init(_ reason: VerificationReason) { self = Reason(rawValue: reason.rawValue)! }

        /// The outcome this reason gives.
        public var outcome: Outcome { self == .unreadable ? .error : .invalid }
    }

    public var outcome: Outcome
    /// Nil when valid.
    public var reason: Reason?
    /// The stage (`VerificationStage` raw value) or policy (`PermitPolicy.name`) that decided;
    /// nil when valid.
    public var stage: String?
    /// What exactly was wrong, for logs and `--json`; nil when valid.
    public var detail: String?
    /// The claims, present only once the signature has verified with a trusted key (also when a
    /// later check refused them), so that nothing unverified is ever shown as the permit.
    public var claims: PermitClaims?
    /// The signing key's authority, name and phone from the trust list; present with `claims`.
    public var signer: PermitSigner?
    public var warnings: [VerificationWarning]

    public init(outcome: Outcome, reason: Reason?, stage: String?, detail: String?,
                claims: PermitClaims? = nil, signer: PermitSigner? = nil, warnings: [VerificationWarning] = []) {
        self.outcome = outcome
        self.reason = reason
        self.stage = stage
        self.detail = detail
        self.claims = claims
        self.signer = signer
        self.warnings = warnings
    }

    /// A refusal by `stage` (or a policy's name).
    public static func refused(_ reason: Reason, stage: String, _ detail: String, claims: PermitClaims? = nil,
                               signer: PermitSigner? = nil, warnings: [VerificationWarning] = []) -> VerificationResult {
        VerificationResult(outcome: reason.outcome, reason: reason, stage: stage, detail: detail,
                           claims: claims, signer: signer, warnings: warnings)
    }

    /// The result for an image with no readable code.
    public static func unreadable(_ detail: String) -> VerificationResult {
        refused(.unreadable, stage: VerificationStage.scan.rawValue, detail)
    }

    public var isValid: Bool { outcome == .valid }
}
