import Foundation
import PermitSeal
import RawStructuredFieldValues

/// The signature algorithms the contract allows, by their RFC 9421 §6.2 names.
public enum SignatureAlgorithm: String, Hashable, Sendable, CaseIterable {
    /// EdDSA over Ed25519 (RFC 9421 §3.3.6).
    case ed25519 = "ed25519"
    /// ECDSA on P-256 with SHA-256, the signature as raw r‖s of 64 bytes (RFC 9421 §3.3.4).
    case ecdsaP256SHA256 = "ecdsa-p256-sha256"

    /// The algorithm a key of `algorithm` signs with.
    public init(_ algorithm: KeyAlgorithm) {
        self = algorithm == .edDSA ? .ed25519 : .ecdsaP256SHA256
    }

    /// The key algorithm this signature algorithm needs.
    public var keyAlgorithm: KeyAlgorithm { self == .ed25519 ? .edDSA : .es256 }
}

/// What a verified signature tells the server: who signed, and what the replay check needs.
public struct VerifiedRequest: Hashable, Sendable {
    /// The signer's kid in lowercase hex, as the `keyid` parameter gave it.
    public var keyID: String
    /// The key that verified the signature (the one the lookup returned).
    public var key: PublicKey
    /// The algorithm named by `alg`, which matched the key's.
    public var algorithm: SignatureAlgorithm
    /// The nonce exactly as sent: canonical unpadded base64url, so one nonce has one spelling.
    public var nonce: String
    /// The nonce's bytes (at least 16).
    public var nonceBytes: [UInt8]
    /// `created`, Unix seconds.
    public var created: Int64
    /// `expires`, Unix seconds: the server keeps the nonce at least until then.
    public var expires: Int64
}

/// The contract's request-signature profile: label `permit`, tag `freight-permit`, the covered
/// components, the parameters and their limits.
public enum RequestSignature {
    /// The label of our signature in `Signature-Input` and `Signature`.
    public static let label = "permit"
    /// The `tag` parameter every request carries.
    public static let tag = "freight-permit"
    /// The longest `expires − created` allowed, in seconds.
    public static let maximumLifetime: Int64 = 300
    /// How far `created` may be ahead of the verifier's clock, in seconds.
    public static let maximumClockSkew: Int64 = 60
    /// The fewest random bytes a nonce holds.
    public static let minimumNonceBytes = 16

    /// The covered components, in order: with a body `"@method" "@target-uri" "content-type"
    /// "content-digest"`, without one `"@method" "@target-uri"`.
    public static func coveredComponents(hasBody: Bool) -> [String] {
        hasBody ? ["@method", "@target-uri", "content-type", "content-digest"] : ["@method", "@target-uri"]
    }

    // MARK: Signing

    /// Signs `request` in place with `key`: sets `Content-Digest` when there is a body (which
    /// must then have a `Content-Type`), and replaces `Signature-Input` and `Signature` with
    /// the `permit` signature. Parameters are written in the order created, expires, nonce,
    /// keyid, alg, tag.
    ///
    /// - Parameters:
    ///   - created: the signing time, Unix seconds, from the caller's clock.
    ///   - lifetime: `expires − created`, 1…300 seconds.
    ///   - nonce: the nonce bytes, at least 16; nil draws 16 from the system's secure generator.
    public static func sign(_ request: inout RequestMessage, with key: PrivateKey, created: Int64,
                            lifetime: Int64 = maximumLifetime, nonce: [UInt8]? = nil) throws(HTTPSignatureError) {
        guard lifetime > 0, lifetime <= maximumLifetime else {
            throw HTTPSignatureError(.lifetime, "a signature must live 1 to \(maximumLifetime) s",
                                     field: "expires", value: String(lifetime), rule: "0 < expires − created ≤ \(maximumLifetime)")
        }
        let nonceBytes = nonce ?? randomBytes(minimumNonceBytes)
        guard nonceBytes.count >= minimumNonceBytes else {
            throw HTTPSignatureError(.nonce, "a nonce holds at least \(minimumNonceBytes) bytes", field: "nonce",
                                     value: "\(nonceBytes.count) bytes", rule: "at least \(minimumNonceBytes) random bytes")
        }
        if request.hasBody {
            request.setField("Content-Digest", ContentDigest.fieldValue(for: request.body))
        }
        let components = coveredComponents(hasBody: request.hasBody)
        let parameters = SignatureParameters([
            .init("created", .integer(created)),
            .init("expires", .integer(created + lifetime)),
            .init("nonce", .string(Base64URL.encode(nonceBytes))),
            .init("keyid", .string(key.publicKey.kidHex)),
            .init("alg", .string(SignatureAlgorithm(key.algorithm).rawValue)),
            .init("tag", .string(tag)),
        ])
        let params = try SignatureBase.signatureParamsValue(covering: components, parameters: parameters)
        let base = try SignatureBase.make(for: request, covering: components, signatureParams: params)
        let signature = key.sign(Array(base.utf8))
        request.setField("Signature-Input", "\(label)=\(params)")
        request.setField("Signature", "\(label)=:\(Data(signature).base64EncodedString()):")
    }

    // MARK: Verification

    /// Verifies the `permit` signature of `request` at time `now` (Unix seconds), looking up
    /// the key by `keyid`. The checks run in this order: the two fields present and parseable;
    /// the label; the covered components exactly as required for a request with or without a
    /// body; the parameters (all six, of their types, nothing else); `tag`; `alg`; `keyid`'s
    /// form; `expires − created` in 1…300; `created` at most 60 s ahead of `now`; `now` not past
    /// `expires`; the nonce; the body's digest; the key; `alg` against the key; the signature.
    ///
    /// Nothing is remembered: the replay check on the returned nonce is the caller's.
    public static func verify(_ request: RequestMessage, now: Int64,
                              key lookup: (String) -> PublicKey?) throws(HTTPSignatureError) -> VerifiedRequest {
        let pending = try check(request, now: now)
        return try pending.finish(with: lookup(pending.keyID))
    }

    /// ``verify(_:now:key:)`` with a key lookup that suspends, e.g. a database read.
    public static func verify(_ request: RequestMessage, now: Int64,
                              key lookup: (String) async -> PublicKey?) async throws(HTTPSignatureError) -> VerifiedRequest {
        let pending = try check(request, now: now)
        return try pending.finish(with: await lookup(pending.keyID))
    }

    /// A signature whose every key-independent check passed.
    struct Pending {
        let keyID: String
        let algorithm: SignatureAlgorithm
        let nonce: String
        let nonceBytes: [UInt8]
        let created: Int64
        let expires: Int64
        let base: String
        let signature: [UInt8]

        func finish(with key: PublicKey?) throws(HTTPSignatureError) -> VerifiedRequest {
            // A lookup that hands back a key with another kid would let one keyid speak for another key.
            guard let key, key.kidHex == keyID else {
                throw HTTPSignatureError(.unknownKey, "no registered key has the keyid \(keyID)",
                                         field: "Signature-Input;keyid", value: keyID,
                                         rule: "the kid of a registered, not removed key")
            }
            guard SignatureAlgorithm(key.algorithm) == algorithm else {
                throw HTTPSignatureError(.algorithm, "alg \(algorithm.rawValue) does not match the key \(keyID), an \(key.algorithm.rawValue) key",
                                         field: "Signature-Input;alg", value: algorithm.rawValue,
                                         rule: "alg = \(SignatureAlgorithm(key.algorithm).rawValue) for this key")
            }
            guard signature.count == 64, key.isValidSignature(signature, for: Array(base.utf8)) else {
                throw HTTPSignatureError(.badSignature, "the signature does not verify with the key \(keyID)",
                                         field: "Signature", value: "\(signature.count) bytes",
                                         rule: "a valid \(algorithm.rawValue) signature over the RFC 9421 signature base")
            }
            return VerifiedRequest(keyID: keyID, key: key, algorithm: algorithm, nonce: nonce, nonceBytes: nonceBytes,
                                   created: created, expires: expires)
        }
    }

    static func check(_ request: RequestMessage, now: Int64) throws(HTTPSignatureError) -> Pending {
        // Parse both fields and find the label.
        let input = try labelled(in: request, field: "Signature-Input")
        let signatureMember = try labelled(in: request, field: "Signature")
        guard case .innerList(let innerList) = input else {
            throw HTTPSignatureError(.malformed, "Signature-Input's \(label) member is not an inner list",
                                     field: "Signature-Input", value: request.fieldValue("Signature-Input"),
                                     rule: "\(label)=(\"component\" …);param=value…")
        }
        guard case .item(let sigItem) = signatureMember, case .undecodedByteSequence(let sigB64) = sigItem.rfc9651BareItem,
              let signature = Data(base64Encoded: sigB64) else {
            throw HTTPSignatureError(.malformed, "Signature's \(label) member is not a byte sequence",
                                     field: "Signature", value: request.fieldValue("Signature"), rule: "\(label)=:BASE64:")
        }

        // Covered components: exactly the contract's, in its order, without component parameters.
        let required = coveredComponents(hasBody: request.hasBody)
        var components: [String] = []
        var plain = true
        for item in innerList.bareInnerList {
            if case .string(let s) = item.rfc9651BareItem, item.rfc9651Parameters.count == 0 {
                components.append(s)
            } else {
                plain = false
            }
        }
        guard plain, components == required else {
            let received = (try? SignatureBase.serialise(InnerList(bareInnerList: innerList.bareInnerList,
                                                                   parameters: OrderedMap<String, RFC9651BareItem>()))) ?? "?"
            throw HTTPSignatureError(.components,
                                     "the covered components must be exactly \(required.map { "\"\($0)\"" }.joined(separator: " ")) for a request \(request.hasBody ? "with" : "without") a body",
                                     field: "Signature-Input", value: received,
                                     rule: "(\(required.map { "\"\($0)\"" }.joined(separator: " ")))")
        }

        // Parameters: the six, each of its type, and no others.
        let known: [String: Bool] = ["created": true, "expires": true, "nonce": false, "keyid": false, "alg": false, "tag": false]
        var ints: [String: Int64] = [:]
        var strings: [String: String] = [:]
        for (name, value) in innerList.rfc9651Parameters {
            guard let isInteger = known[name] else {
                throw HTTPSignatureError(.malformed, "Signature-Input has the parameter \(name), which the contract does not define",
                                         field: "Signature-Input;\(name)", rule: "only created, expires, nonce, keyid, alg, tag")
            }
            switch (isInteger, value) {
            case (true, .integer(let i)): ints[name] = i
            case (false, .string(let s)): strings[name] = s
            default:
                throw HTTPSignatureError(.malformed, "the parameter \(name) must be \(isInteger ? "an Integer" : "a String")",
                                         field: "Signature-Input;\(name)", value: "\(value)",
                                         rule: isInteger ? "Unix seconds as an RFC 8941 Integer" : "an RFC 8941 String")
            }
        }
        for name in ["created", "expires", "nonce", "keyid", "alg", "tag"] where ints[name] == nil && strings[name] == nil {
            throw HTTPSignatureError(.malformed, "Signature-Input lacks the parameter \(name)", field: "Signature-Input;\(name)",
                                     rule: "created, expires, nonce, keyid, alg and tag are all required")
        }
        let created = ints["created"]!, expires = ints["expires"]!
        let nonce = strings["nonce"]!, keyID = strings["keyid"]!, alg = strings["alg"]!, signedTag = strings["tag"]!

        guard signedTag == tag else {
            throw HTTPSignatureError(.tag, "tag must be \(tag)", field: "Signature-Input;tag", value: signedTag, rule: "tag=\"\(tag)\"")
        }
        guard let algorithm = SignatureAlgorithm(rawValue: alg) else {
            throw HTTPSignatureError(.algorithm, "alg \(alg) is not accepted", field: "Signature-Input;alg", value: alg,
                                     rule: "ed25519 or ecdsa-p256-sha256")
        }
        guard keyID.utf8.count == 16, keyID.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw HTTPSignatureError(.malformed, "keyid must be a kid in lowercase hex", field: "Signature-Input;keyid", value: keyID,
                                     rule: "16 lowercase hex digits: the first 8 bytes of SHA-256 over the key's SPKI")
        }

        // Time, from the caller's clock.
        guard expires > created, expires - created <= maximumLifetime else {
            throw HTTPSignatureError(.lifetime, "expires must be after created and at most \(maximumLifetime) s after it",
                                     field: "Signature-Input;expires", value: "created=\(created) expires=\(expires)",
                                     rule: "0 < expires − created ≤ \(maximumLifetime)")
        }
        guard created <= now + maximumClockSkew else {
            throw HTTPSignatureError(.future, "created is \(created - now) s ahead of the server's clock",
                                     field: "Signature-Input;created", value: String(created),
                                     rule: "created ≤ now + \(maximumClockSkew) s (now = \(now))")
        }
        guard now <= expires else {
            throw HTTPSignatureError(.expired, "the signature expired \(now - expires) s ago",
                                     field: "Signature-Input;expires", value: String(expires),
                                     rule: "now ≤ expires (now = \(now))")
        }

        guard let nonceBytes = Base64URL.decodeCanonical(nonce), nonceBytes.count >= minimumNonceBytes else {
            throw HTTPSignatureError(.nonce, "the nonce must be unpadded base64url of at least \(minimumNonceBytes) bytes",
                                     field: "Signature-Input;nonce", value: nonce,
                                     rule: "at least \(minimumNonceBytes) random bytes, base64url without padding")
        }

        if request.hasBody {
            try ContentDigest.check(request.fieldValue("Content-Digest"), body: request.body)
        }

        let base = try SignatureBase.make(for: request, covering: components, signatureParams: SignatureBase.serialise(innerList))
        return Pending(keyID: keyID, algorithm: algorithm, nonce: nonce, nonceBytes: nonceBytes,
                       created: created, expires: expires, base: base, signature: Array(signature))
    }

    /// The `permit` member of a Dictionary field; several lines are one field (RFC 9110 §5.3).
    private static func labelled(in request: RequestMessage, field: String) throws(HTTPSignatureError) -> ItemOrInnerList {
        guard let value = request.fieldValue(field) else {
            throw HTTPSignatureError(.missing, "the request has no \(field) field", field: field,
                                     rule: "every request that is not public is signed (RFC 9421)")
        }
        let dictionary: OrderedMap<String, ItemOrInnerList>
        do {
            var parser = StructuredFieldValueParser(Array(value.utf8))
            dictionary = try parser.parseDictionaryFieldValue()
        } catch {
            throw HTTPSignatureError(.malformed, "\(field) is not an RFC 8941 Dictionary", field: field, value: value,
                                     rule: "an RFC 8941 Dictionary")
        }
        guard let member = dictionary[label] else {
            throw HTTPSignatureError(.missing, "\(field) has no member labelled \(label)", field: field, value: value,
                                     rule: "a signature labelled \(label)")
        }
        return member
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        // SystemRandomNumberGenerator is the OS's cryptographically secure source (getrandom on
        // Linux); drawing 8 bytes a call keeps it to two system calls for a nonce.
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count + 7)
        while out.count < count {
            withUnsafeBytes(of: generator.next()) { out.append(contentsOf: $0) }
        }
        return Array(out.prefix(count))
    }
}

/// RFC 4648 §5 base64url without padding.
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        let standard = Data(bytes).base64EncodedString().utf8
        return String(decoding: standard.compactMap { b -> UInt8? in
            switch b {
            case UInt8(ascii: "+"): return UInt8(ascii: "-")
            case UInt8(ascii: "/"): return UInt8(ascii: "_")
            case UInt8(ascii: "="): return nil
            default: return b
            }
        }, as: UTF8.self)
    }

    /// The bytes of `text` when it is the one canonical unpadded spelling of them, else nil.
    static func decodeCanonical(_ text: String) -> [UInt8]? {
        var standard: [UInt8] = []
        standard.reserveCapacity(text.utf8.count + 3)
        for b in text.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39: standard.append(b)
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            default: return nil
            }
        }
        guard !standard.isEmpty else { return nil }
        standard += Array(repeating: UInt8(ascii: "="), count: (4 - standard.count % 4) % 4)
        guard let data = Data(base64Encoded: Data(standard)) else { return nil }
        let bytes = Array(data)
        // Unused low bits set would give the same bytes a second spelling, and a second replay-store key.
        return encode(bytes) == text ? bytes : nil
    }
}
