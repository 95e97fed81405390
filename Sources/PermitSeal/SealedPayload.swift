/// The reason codes of payload spec §6, in the order the checks run.
public enum VerificationReason: String, Codable, Sendable, CaseIterable {
    case unknownPrefix, base45Invalid, decompressionFailed, coseMalformed, unsupportedAlgorithm
    case unknownKey, signatureInvalid, claimsMalformed, issuerMismatch, keyNotValidAtIssuance
    case notYetValid, expired, revoked, plateMismatch
}

/// A payload text that failed one of the decoding stages, with the stage's reason code.
public struct PayloadError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: VerificationReason
    public var detail: String
    public init(_ reason: VerificationReason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// The layers of an `FP1:` text, as decoded before anything is trusted.
public struct DecodedPayload: Sendable {
    /// The bytes after Base45 decoding (zlib, or a bare COSE_Sign1).
    public var compressed: [UInt8]
    /// Whether `compressed` was a zlib stream (false for an uncompressed COSE_Sign1).
    public var wasCompressed: Bool
    /// The COSE_Sign1 bytes.
    public var coseBytes: [UInt8]
    public var cose: COSESign1
}

/// The `FP1:` text format: `"FP1:" + Base45(zlib(COSE_Sign1))` (payload spec §1).
public enum PermitText {
    public static let prefix = "FP1:"
    static let prefixBytes = Array(prefix.utf8)

    /// The CBOR limits a verifier applies to untrusted payloads: duplicate keys refused,
    /// indefinite lengths no deeper than 16.
    public static let decoder = CBORDecoder(maxDepth: 32, maxIndefiniteDepth: 16, rejectDuplicateKeys: true)

    /// Stages 1–4 of §6: prefix, Base45, inflate (bounded), COSE structure.
    public static func decode(_ text: String, zlib: Zlib = .shared) throws(PayloadError) -> DecodedPayload {
        var text = text
        let utf8: [UInt8] = text.withUTF8 { Array($0) }
        guard utf8.starts(with: prefixBytes) else {
            throw PayloadError(.unknownPrefix, "the text does not start with \(prefix)")
        }
        let compressed: [UInt8]
        do {
            compressed = try Base45.decode(utf8[prefixBytes.count...])
        } catch {
            throw PayloadError(.base45Invalid, error.description)
        }
        let coseBytes: [UInt8]
        let wasCompressed: Bool
        if let first = compressed.first, first == 0xd2 || first == 0x84 {
            coseBytes = compressed
            wasCompressed = false
        } else {
            do {
                coseBytes = try zlib.inflate(compressed)
            } catch {
                throw PayloadError(.decompressionFailed, error.description)
            }
            wasCompressed = true
        }
        let cose: COSESign1
        do {
            cose = try COSESign1.decode(coseBytes, decoder: decoder)
        } catch {
            throw PayloadError(.coseMalformed, error.detail)
        }
        return DecodedPayload(compressed: compressed, wasCompressed: wasCompressed, coseBytes: coseBytes, cose: cose)
    }

    /// The `FP1:` text of a signed COSE_Sign1. The signature, the last bytes of the encoding
    /// and uniformly random, is copied into a stored block instead of being Huffman-coded
    /// (see `Zlib`); everything before it is deflated at level 9.
    public static func encode(_ cose: COSESign1, zlib: Zlib = .shared) -> String {
        Base45.encode(zlib.compress(cose.encoded(), storedSuffix: cose.signature.count), after: prefixBytes)
    }
}

/// A permit sealed by an issuer key: its claims, the COSE_Sign1 and the `FP1:` text.
public struct SealedPermit: Sendable {
    public var claims: PermitClaims
    public var cose: COSESign1
    public var text: String

    /// The revocation hash of payload spec §5: the first 16 bytes of SHA-256 over the COSE
    /// signature bytes, in lowercase hex.
    public var revocationHash: String { RevocationList.hash(ofSignature: cose.signature) }
}

/// Seals permits with one issuer key; reuses its zlib stream between permits.
public final class PermitSealer: @unchecked Sendable {
    public let signer: any MessageSigner
    private let header: COSESign1.ProtectedHeader
    private let zlib = Zlib()

    public init(signer: any MessageSigner) {
        self.signer = signer
        header = COSESign1.ProtectedHeader(signer.publicKey)
    }

    public convenience init(key: PrivateKey) { self.init(signer: key) }

    /// Encodes the claims deterministically, signs them as COSE_Sign1, compresses and encodes.
    /// Throws only when the signer does (a key held elsewhere that cannot be reached).
    public func seal(_ claims: PermitClaims) throws -> SealedPermit {
        let cose = try COSESign1.sign(payload: claims.encoded(), signer: signer, header: header)
        return SealedPermit(claims: claims, cose: cose, text: PermitText.encode(cose, zlib: zlib))
    }
}
