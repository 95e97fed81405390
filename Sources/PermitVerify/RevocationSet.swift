import Foundation
import PermitFoundation
import PermitSeal

/// A revocation hash (payload spec §5): the first 16 bytes of SHA-256 over a permit's COSE
/// signature, held as two integers so that a lookup hashes 16 bytes, not a hex string.
public struct RevocationHash: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    /// The hash of a permit's COSE signature bytes.
    public init(signature: [UInt8]) {
        self.init(digestPrefix: Hashing.sha256(signature))!
    }

    /// The first 16 bytes of `bytes` (nil if fewer).
    init?(digestPrefix bytes: [UInt8]) {
        guard bytes.count >= 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        high = h
        low = l
    }

    /// Reads the list's form: 32 lowercase (or uppercase) hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { return nil }
        self.init(digestPrefix: bytes)
    }

    /// Lowercase hex, as the list writes it.
    public var description: String {
        let h = String(high, radix: 16), l = String(low, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }
}

/// The revoked permits of one authority: the hashes of a verified revocation list.
public struct RevocationSet: Sendable {
    /// The authority whose permits this list covers (`iss`).
    public let authority: String
    public let hashes: Set<RevocationHash>
    /// Past `nextUpdate`, the list is stale. Nil for a hand-built set.
    public let nextUpdate: Date?
    public let sequence: Int?

    public init(authority: String, hashes: Set<RevocationHash>, nextUpdate: Date? = nil, sequence: Int? = nil) {
        self.authority = authority
        self.hashes = hashes
        self.nextUpdate = nextUpdate
        self.sequence = sequence
    }

    /// The hashes of a revocation list the caller has already verified.
    public init(list: RevocationList) throws(ListError) {
        var hashes = Set<RevocationHash>()
        for (i, entry) in list.revoked.enumerated() {
            guard let hash = RevocationHash(hex: entry.hash) else {
                throw ListError(.invalidField, "revoked[\(i)].hash \"\(entry.hash)\" is not 32 hex digits")
            }
            hashes.insert(hash)
        }
        guard let next = list.nextUpdateDate else {
            throw ListError(.invalidField, "nextUpdate \"\(list.nextUpdate)\" is not RFC 3339")
        }
        self.init(authority: list.authority, hashes: hashes, nextUpdate: next, sequence: list.sequence)
    }

    /// Verifies a signed revocation list (COSE_Sign1 bytes): it must be signed by a key of its
    /// authority in the trust store, or by the root (payload spec §5).
    public init(verifying signed: [UInt8], trust: TrustStore, root: PublicKey?) throws(ListError) {
        guard let authority = RevocationList.claimedAuthority(signed) else {
            throw ListError(.unsigned, "not a signed revocation list (a COSE_Sign1 holding its JSON document)")
        }
        let signers = trust.keys(ofAuthority: authority).map(\.key) + (root.map { [$0] } ?? [])
        guard !signers.isEmpty else {
            throw ListError(.signatureInvalid, "the revocation list claims authority \(authority), which has no key in the trust list, and no root was given")
        }
        try self.init(list: RevocationList.verify(signed, signers: signers))
    }
}
