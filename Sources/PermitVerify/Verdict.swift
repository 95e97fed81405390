import Foundation
import PermitSeal

/// The verdict object of one payload, as `permit verify --json` prints it (one per line) and
/// `POST /v1/verify` returns it (a JSON array of them): the one formatting both share.
///
/// The permit, its validity and signer appear only when the result carries verified claims.
public struct Verdict: Encodable, Sendable {
    /// The permit's validity: first and last day in China Standard Time, and the instants. Any
    /// uint is allowed in the claims, so each is written by `CivilTime`'s rule: a date when its
    /// year is 1–9999, otherwise the claim's own seconds as a string of digits.
    public struct Validity: Encodable, Sendable {
        /// First and last day, China Standard Time.
        public var from: String
        public var until: String
        public var notBefore: String
        public var expiresAt: String
        public var issuedAt: String
    }

    /// The payload's position in the input, from 0.
    public var index: Int
    public var outcome: VerificationResult.Outcome
    public var reason: VerificationResult.Reason?
    public var stage: String?
    public var detail: String?
    public var warnings: [VerificationWarning]
    public var number: String?
    public var issuer: PermitSigner?
    public var validity: Validity?
    public var permit: PermitPayload?

    public init(index: Int, result: VerificationResult) {
        self.index = index
        outcome = result.outcome
        reason = result.reason
        stage = result.stage
        detail = result.detail
        warnings = result.warnings
        issuer = result.signer
        if let claims = result.claims {
            number = claims.permit.number
            permit = claims.permit
            validity = Validity(from: CivilTime.day(claim: claims.notBefore), until: CivilTime.lastDay(expiresAt: claims.expiresAt),
                                notBefore: CivilTime.rfc3339(claim: claims.notBefore), expiresAt: CivilTime.rfc3339(claim: claims.expiresAt),
                                issuedAt: CivilTime.rfc3339(claim: claims.issuedAt))
        }
    }

    /// The encoder of verdicts: sorted keys, slashes unescaped, no white space. The CLI and the
    /// server use it so that the same payload gives the same bytes.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// One thing to verify: a payload text, or an image in which no code could be read.
public enum VerificationInput: Sendable {
    case payload(String)
    case unreadable(String)
}

extension Verifier {
    /// The result for one input: the pipeline for a text, `unreadable` for an image without a code.
    public func verify(_ input: VerificationInput) -> VerificationResult {
        switch input {
        case .payload(let text): return verify(text)
        case .unreadable(let detail): return .unreadable(detail)
        }
    }
}
