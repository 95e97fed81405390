import Foundation
import PermitFoundation
import PermitModel

/// Why a trust list or revocation list was refused.
public struct ListError: Error, Hashable, Sendable, CustomStringConvertible, ProblemConvertible {
    public enum Code: String, Sendable {
        case malformed, unsigned, signatureInvalid, wrongFormat, kidMismatch, unsupportedVersion, invalidField
    }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }
    public var description: String { detail }
    public var problems: [Problem] { [Problem(code: "list.\(code.rawValue)", message: detail)] }
}

/// The signed trust list of payload spec §5: every issuer key a checkpoint trusts.
public struct TrustList: Codable, Hashable, Sendable {
    public static let formatName = "freight-permit-trust-list"

    /// One trusted issuer key and the authority it belongs to.
    public struct Entry: Codable, Hashable, Sendable {
        public var kid: String
        public var alg: String
        public var authority: String
        public var name: String
        public var nameEn: String
        public var phone: String
        public var publicKey: String
        /// When the key may start signing (RFC 3339).
        public var notBefore: String
        /// When the key stops signing (RFC 3339); the rotation time once rotated.
        public var notAfter: String

        public init(key: PublicKey, authority: String, name: String, nameEn: String, phone: String, notBefore: Date, notAfter: Date) {
            kid = key.kidHex
            alg = key.algorithm.rawValue
            self.authority = authority
            self.name = name
            self.nameEn = nameEn
            self.phone = phone
            publicKey = key.base64
            self.notBefore = RFC3339.string(notBefore)
            self.notAfter = RFC3339.string(notAfter)
        }
    }

    public var format: String = TrustList.formatName
    public var version: Int = 1
    public var sequence: Int
    public var issuedAt: String
    public var nextUpdate: String
    public var keys: [Entry]

    public init(sequence: Int, issuedAt: Date, nextUpdate: Date, keys: [Entry]) {
        self.sequence = sequence
        self.issuedAt = RFC3339.string(issuedAt)
        self.nextUpdate = RFC3339.string(nextUpdate)
        self.keys = keys
    }

    /// The list as JSON with sorted keys, signed as a COSE_Sign1 with `signer`.
    public func signed(by signer: PrivateKey) -> [UInt8] {
        COSESign1.sign(payload: ListJSON.encode(self), with: signer).encoded()
    }

    public func signed(with signer: any MessageSigner) throws -> [UInt8] {
        try COSESign1.sign(payload: ListJSON.encode(self), signer: signer).encoded()
    }

    /// Verifies a signed list against the pinned `root` key and checks every entry's kid.
    /// Never falls back to trusting an unsigned or altered list.
    public static func verify(_ signed: [UInt8], root: PublicKey) throws(ListError) -> TrustList {
        let payload = try ListJSON.verifiedPayload(signed, signers: [root], what: "trust list")
        let list: TrustList = try ListJSON.decode(payload, what: "trust list")
        guard list.format == formatName else { throw ListError(.wrongFormat, "format is \"\(list.format)\", expected \"\(formatName)\"") }
        guard list.version == 1 else { throw ListError(.unsupportedVersion, "trust list version \(list.version) is not supported") }
        _ = try list.resolvedKeys()
        return list
    }

    /// A trusted key with its parsed public key and signing window.
    public struct TrustedKey: Sendable {
        public var entry: Entry
        public var key: PublicKey
        public var notBefore: Date
        public var notAfter: Date
    }

    /// Every entry with its public key parsed, its kid recomputed and checked, and its dates read.
    public func resolvedKeys() throws(ListError) -> [TrustedKey] {
        var out: [TrustedKey] = []
        for (i, e) in keys.enumerated() {
            guard let der = Data(base64Encoded: e.publicKey) else {
                throw ListError(.invalidField, "keys[\(i)].publicKey is not base64")
            }
            let key: PublicKey
            do { key = try PublicKey(spki: Array(der)) } catch {
                throw ListError(.invalidField, "keys[\(i)].publicKey: \(error.detail)")
            }
            guard key.kidHex == e.kid else {
                throw ListError(.kidMismatch, "keys[\(i)].kid is \(e.kid) but its public key's kid is \(key.kidHex)")
            }
            guard key.algorithm.rawValue == e.alg else {
                throw ListError(.invalidField, "keys[\(i)].alg is \(e.alg) but the key is \(key.algorithm.rawValue)")
            }
            guard e.authority.count == 6, e.authority.allSatisfy(\.isASCII), e.authority.allSatisfy(\.isNumber) else {
                throw ListError(.invalidField, "keys[\(i)].authority \"\(e.authority)\" is not a 6-digit division code")
            }
            guard let nb = RFC3339.date(e.notBefore), let na = RFC3339.date(e.notAfter) else {
                throw ListError(.invalidField, "keys[\(i)] has a notBefore or notAfter that is not RFC 3339")
            }
            out.append(TrustedKey(entry: e, key: key, notBefore: nb, notAfter: na))
        }
        return out
    }

    public var nextUpdateDate: Date? { RFC3339.date(nextUpdate) }
}

/// The signed revocation list of payload spec §5, one per authority.
public struct RevocationList: Codable, Hashable, Sendable {
    /// The sequence of the list already published at `url` (0 when there is none or it does not
    /// read). A new list goes above it too: after a database restore the counter is behind what
    /// checkpoints have accepted, and they refuse a lower sequence.
    public static func publishedSequence(at url: URL) -> Int {
        (try? Data(contentsOf: url)).flatMap { try? COSESign1.decode(Array($0)) }
            .flatMap { try? JSONDecoder().decode(RevocationList.self, from: Data($0.payload)) }?.sequence ?? 0
    }

    public static let formatName = "freight-permit-revocations"

    public struct Entry: Codable, Hashable, Sendable {
        /// First 16 bytes of SHA-256 over the permit's COSE signature, lowercase hex.
        public var hash: String
        public var revokedAt: String
        public var reason: String
        public init(hash: String, revokedAt: Date, reason: String) {
            self.hash = hash
            self.revokedAt = RFC3339.string(revokedAt)
            self.reason = reason
        }
    }

    public var format: String = RevocationList.formatName
    public var version: Int = 1
    public var authority: String
    public var sequence: Int
    public var issuedAt: String
    public var nextUpdate: String
    public var revoked: [Entry]

    public init(authority: String, sequence: Int, issuedAt: Date, nextUpdate: Date, revoked: [Entry]) {
        self.authority = authority
        self.sequence = sequence
        self.issuedAt = RFC3339.string(issuedAt)
        self.nextUpdate = RFC3339.string(nextUpdate)
        self.revoked = revoked
    }

    /// The revocation hash of a permit signature.
    public static func hash(ofSignature signature: [UInt8]) -> String {
        Hex.encode(Hashing.sha256(signature).prefix(16))
    }

    public func signed(by signer: PrivateKey) -> [UInt8] {
        COSESign1.sign(payload: ListJSON.encode(self), with: signer).encoded()
    }

    public func signed(with signer: any MessageSigner) throws -> [UInt8] {
        try COSESign1.sign(payload: ListJSON.encode(self), signer: signer).encoded()
    }

    /// Verifies a signed revocation list: it must be signed by one of `signers` (the
    /// authority's keys in the trust list, or the root).
    public static func verify(_ signed: [UInt8], signers: [PublicKey]) throws(ListError) -> RevocationList {
        let payload = try ListJSON.verifiedPayload(signed, signers: signers, what: "revocation list")
        let list: RevocationList = try ListJSON.decode(payload, what: "revocation list")
        guard list.format == formatName else { throw ListError(.wrongFormat, "format is \"\(list.format)\", expected \"\(formatName)\"") }
        guard list.version == 1 else { throw ListError(.unsupportedVersion, "revocation list version \(list.version) is not supported") }
        return list
    }

    /// Reads a signed revocation list's authority without trusting it, to find its signers.
    public static func claimedAuthority(_ signed: [UInt8]) -> String? {
        guard let cose = try? COSESign1.decode(signed),
              let list: RevocationList = try? ListJSON.decode(cose.payload, what: "revocation list") else { return nil }
        return list.authority
    }

    public var nextUpdateDate: Date? { RFC3339.date(nextUpdate) }
}

/// JSON encoding and signature checking shared by both lists.
enum ListJSON {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(value))
    }

    static func decode<T: Decodable>(_ bytes: [UInt8], what: String) throws(ListError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw ListError(.malformed, "the \(what) is not valid JSON of its schema: \(error)")
        }
    }

    /// The payload of a COSE_Sign1 that one of `signers` signed (matched by kid, then signature).
    static func verifiedPayload(_ signed: [UInt8], signers: [PublicKey], what: String) throws(ListError) -> [UInt8] {
        let cose: COSESign1
        do {
            cose = try COSESign1.decode(signed)
        } catch {
            throw ListError(.unsigned, "the \(what) is not a signed COSE_Sign1 message (\(error.detail))")
        }
        let candidates = signers.filter { cose.kid == nil || $0.kid == cose.kid! }
        for key in candidates {
            if (try? cose.verify(with: key)) != nil { return cose.payload }
        }
        throw ListError(.signatureInvalid, "the \(what)'s signature does not verify with any key allowed to sign it (kid \(cose.kid.map { Hex.encode($0) } ?? "none"))")
    }
}
