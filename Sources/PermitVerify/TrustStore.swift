import Foundation
import PermitSeal

/// The issuer keys a checkpoint trusts: the resolved keys of a verified trust list, indexed by
/// kid so that stage 6 is one dictionary lookup.
///
/// Several keys may share a kid (a kid is only 8 bytes of a hash); the verifier tries each.
public struct TrustStore: Sendable {
    /// One trusted issuer key, with the authority it belongs to and its signing window.
    public struct Key: Sendable, Hashable {
        /// The kid a payload names; normally `key.kid`, the spec's rule.
        public var kid: [UInt8]
        public var key: PublicKey
        /// The authority's 6-digit division code.
        public var authority: String
        /// The authority's name (Chinese) and English name, as the trust list binds them to the key.
        public var name: String
        public var nameEn: String
        /// The phone number a checkpoint calls to confirm a permit.
        public var phone: String
        /// The key may sign permits whose `iat` lies in `notBefore...notAfter`.
        public var notBefore: Date
        public var notAfter: Date

        /// A trusted key. `kid` defaults to the key's own kid; tests pass another to build
        /// colliding kids, which no verified trust list can contain.
        public init(key: PublicKey, authority: String, name: String, nameEn: String, phone: String,
                    notBefore: Date, notAfter: Date, kid: [UInt8]? = nil) {
            self.kid = kid ?? key.kid
            self.key = key
            self.authority = authority
            self.name = name
            self.nameEn = nameEn
            self.phone = phone
            self.notBefore = notBefore
            self.notAfter = notAfter
        }

        /// Whether the key was allowed to sign at `date` (both ends inclusive).
        public func maySign(at date: Date) -> Bool { notBefore <= date && date <= notAfter }
    }

    /// Every trusted key, in list order.
    public let keys: [Key]
    /// The list's `nextUpdate`: past it, the list is stale. Nil for a hand-built store.
    public let nextUpdate: Date?
    /// The list's `sequence`, when the store came from a list.
    public let sequence: Int?
    private let byKid: [[UInt8]: [Key]]

    /// A store of hand-built keys (for tests and tools); `nextUpdate` nil means never stale.
    public init(keys: [Key], nextUpdate: Date? = nil, sequence: Int? = nil) {
        self.keys = keys
        self.nextUpdate = nextUpdate
        self.sequence = sequence
        var byKid: [[UInt8]: [Key]] = [:]
        for key in keys { byKid[key.kid, default: []].append(key) }
        self.byKid = byKid
    }

    /// The keys of a trust list that the caller has already verified, each kid recomputed and
    /// checked by `TrustList.resolvedKeys()`.
    public init(list: TrustList) throws(ListError) {
        let resolved = try list.resolvedKeys()
        guard let next = list.nextUpdateDate else {
            throw ListError(.invalidField, "nextUpdate \"\(list.nextUpdate)\" is not RFC 3339")
        }
        self.init(keys: resolved.map { t in
            Key(key: t.key, authority: t.entry.authority, name: t.entry.name, nameEn: t.entry.nameEn,
                phone: t.entry.phone, notBefore: t.notBefore, notAfter: t.notAfter)
        }, nextUpdate: next, sequence: list.sequence)
    }

    /// Verifies a signed trust list (COSE_Sign1 bytes) against the pinned root and resolves it.
    /// An unsigned or altered list is an error, never a fallback.
    public init(verifying signed: [UInt8], root: PublicKey) throws(ListError) {
        try self.init(list: TrustList.verify(signed, root: root))
    }

    /// Every trusted key with this kid (empty if none).
    @inlinable
    public func keys(withKid kid: [UInt8]) -> [Key] { lookup(kid) }

    @usableFromInline
    func lookup(_ kid: [UInt8]) -> [Key] { byKid[kid] ?? [] }

    /// The keys of one authority: those that may sign its revocation list.
    public func keys(ofAuthority authority: String) -> [Key] { keys.filter { $0.authority == authority } }
}
