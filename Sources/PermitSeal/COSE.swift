/// Why a COSE_Sign1 message was refused. The kinds map onto the verifier's reason codes.
public struct COSEError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Not a well-formed COSE_Sign1 (wrong tag, wrong shape, bad CBOR).
        case malformed
        /// `alg` is missing, not an integer, or not one we support.
        case unsupportedAlgorithm
        /// The signature does not verify with the given key.
        case signatureInvalid
    }
    public var kind: Kind
    public var detail: String
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }
    public var description: String { "COSE \(kind.rawValue): \(detail)" }
}

/// A COSE_Sign1 message (RFC 9052 §4.2).
public struct COSESign1: Sendable, Hashable {
    /// CBOR tag 18.
    public static let tag: UInt64 = 18
    /// COSE header labels used here.
    public static let algLabel: Int64 = 1
    public static let kidLabel: Int64 = 4

    /// The protected header exactly as carried (a serialised map, or empty).
    public var protectedBytes: [UInt8]
    /// The protected header, decoded.
    public var protectedHeader: [CBORPair]
    public var unprotectedHeader: [CBORPair]
    public var payload: [UInt8]
    public var signature: [UInt8]
    /// Whether the message carried tag 18.
    public var isTagged: Bool

    /// Decodes a COSE_Sign1, tagged with 18 or untagged. Any other tag is malformed.
    public static func decode(_ bytes: [UInt8], decoder: CBORDecoder = CBORDecoder()) throws(COSEError) -> COSESign1 {
        if let message = try decodeCommonForm(bytes, decoder: decoder) { return message }
        let item: CBOR
        do {
            item = try decoder.decode(bytes)
        } catch {
            throw COSEError(.malformed, error.description)
        }
        return try COSESign1(item, decoder: decoder)
    }

    /// The form issuers write (tag 18 or none, definite lengths, empty unprotected map), read by
    /// slicing instead of building a CBOR tree: the checkpoint's hot path. Any other form
    /// returns nil and goes through the general decoder, which decides and explains.
    static func decodeCommonForm(_ b: [UInt8], decoder: CBORDecoder) throws(COSEError) -> COSESign1? {
        var i = 0
        var tagged = false
        if b.count > 1, b[0] == 0xd2 { tagged = true; i = 1 }
        guard i < b.count, b[i] == 0x84 else { return nil }
        i += 1
        func byteString() -> ArraySlice<UInt8>? {
            guard i < b.count, b[i] >> 5 == 2 else { return nil }
            let info = b[i] & 0x1f
            i += 1
            var length = 0
            switch info {
            case 0..<24: length = Int(info)
            case 24...27:
                let n = 1 << Int(info - 24)
                guard b.count - i >= n, n <= 4 else { return nil }
                for k in 0..<n { length = length << 8 | Int(b[i + k]) }
                i += n
            default: return nil
            }
            guard length <= b.count - i else { return nil }
            defer { i += length }
            return b[i..<i + length]
        }
        guard let protectedBytes = byteString(), i < b.count, b[i] == 0xa0 else { return nil }
        i += 1
        guard let payload = byteString(), let signature = byteString(), i == b.count else { return nil }
        var header: [CBORPair] = []
        if !protectedBytes.isEmpty {
            guard let decoded = try? decoder.decode(Array(protectedBytes)), case .map(let pairs) = decoded else {
                throw COSEError(.malformed, "the protected header must hold a CBOR map")
            }
            header = pairs
        }
        var message = COSESign1(protectedBytes: Array(protectedBytes), protectedHeader: header, payload: Array(payload), signature: Array(signature))
        message.isTagged = tagged
        return message
    }

    /// Reads a COSE_Sign1 from an already decoded item.
    public init(_ item: CBOR, decoder: CBORDecoder = CBORDecoder()) throws(COSEError) {
        var body = item
        isTagged = false
        if case .tagged(let tag, let inner) = item {
            guard tag == COSESign1.tag else {
                throw COSEError(.malformed, "CBOR tag \(tag) is not COSE_Sign1's tag 18")
            }
            body = inner
            isTagged = true
        }
        guard case .array(let parts) = body, parts.count == 4 else {
            throw COSEError(.malformed, "a COSE_Sign1 is an array of 4 items")
        }
        guard case .bytes(let protectedBytes) = parts[0] else {
            throw COSEError(.malformed, "the protected header must be a byte string")
        }
        self.protectedBytes = protectedBytes
        if protectedBytes.isEmpty {
            protectedHeader = []
        } else {
            guard let decoded = try? decoder.decode(protectedBytes), case .map(let pairs) = decoded else {
                throw COSEError(.malformed, "the protected header must hold a CBOR map")
            }
            protectedHeader = pairs
        }
        guard case .map(let unprotected) = parts[1] else {
            throw COSEError(.malformed, "the unprotected header must be a map")
        }
        unprotectedHeader = unprotected
        guard case .bytes(let payload) = parts[2] else {
            throw COSEError(.malformed, "the payload must be a byte string (detached payloads are not used)")
        }
        self.payload = payload
        guard case .bytes(let signature) = parts[3] else {
            throw COSEError(.malformed, "the signature must be a byte string")
        }
        self.signature = signature
    }

    /// A header value, from the protected header only or, failing that, the unprotected one.
    public func header(_ label: Int64, protectedOnly: Bool) -> CBOR? {
        let key = CBOR.int(label)
        if let value = protectedHeader.first(where: { $0.key == key })?.value { return value }
        if protectedOnly { return nil }
        return unprotectedHeader.first(where: { $0.key == key })?.value
    }

    /// The kid: protected header first, then unprotected.
    public var kid: [UInt8]? {
        header(COSESign1.kidLabel, protectedOnly: false)?.bytes
    }

    /// The supported algorithm the headers name.
    public func algorithm(protectedOnly: Bool) throws(COSEError) -> KeyAlgorithm {
        guard let value = header(COSESign1.algLabel, protectedOnly: protectedOnly) else {
            throw COSEError(.unsupportedAlgorithm, protectedOnly ? "no alg in the protected header" : "no alg in either header")
        }
        guard let alg = value.int64 else {
            throw COSEError(.unsupportedAlgorithm, "alg \(CBORDiagnostic.describe(value)) is not a registered integer algorithm")
        }
        guard let algorithm = KeyAlgorithm(coseAlgorithm: alg) else {
            throw COSEError(.unsupportedAlgorithm, "alg \(alg) is not supported (EdDSA -8/-19 and ES256 -7/-9 are)")
        }
        return algorithm
    }

    /// `Sig_structure = ["Signature1", protected, external_aad, payload]`, encoded.
    /// A protected header that holds an empty map counts as no protected attributes, so it is
    /// signed as a zero-length byte string (RFC 9052 §4.4; cose-wg's sign-pass-01).
    public func toBeSigned(externalAAD: [UInt8] = []) -> [UInt8] {
        COSESign1.toBeSigned(protectedBytes: protectedHeader.isEmpty ? [] : protectedBytes, externalAAD: externalAAD, payload: payload)
    }

    static func toBeSigned(protectedBytes: [UInt8], externalAAD: [UInt8], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x84, 0x6a]
        out.reserveCapacity(payload.count + protectedBytes.count + externalAAD.count + 24)
        out += "Signature1".utf8
        CBOREncoder.head(2, UInt64(protectedBytes.count), &out)
        out += protectedBytes
        CBOREncoder.head(2, UInt64(externalAAD.count), &out)
        out += externalAAD
        CBOREncoder.head(2, UInt64(payload.count), &out)
        out += payload
        return out
    }

    /// Checks the signature with `key`. `alg` must name the key's algorithm.
    public func verify(with key: PublicKey, externalAAD: [UInt8] = [], protectedAlgorithmOnly: Bool = true) throws(COSEError) {
        let algorithm = try self.algorithm(protectedOnly: protectedAlgorithmOnly)
        guard algorithm == key.algorithm else {
            throw COSEError(.signatureInvalid, "alg is \(algorithm.rawValue) but the key is \(key.algorithm.rawValue)")
        }
        guard key.isValidSignature(signature, for: toBeSigned(externalAAD: externalAAD)) else {
            throw COSEError(.signatureInvalid, "the signature does not verify with key \(key.kidHex)")
        }
    }

    /// Signs `payload` with the FP1 profile's headers: protected `{1: alg, 4: kid}`, empty
    /// unprotected map, empty external AAD.
    public static func sign(payload: [UInt8], with key: PrivateKey) -> COSESign1 {
        sign(payload: payload, with: key, header: ProtectedHeader(key.publicKey))
    }

    /// Signs `payload` with the FP1 profile's headers through a signer that may fail (a remote
    /// key, an HSM).
    public static func sign(payload: [UInt8], signer: any MessageSigner) throws -> COSESign1 {
        try sign(payload: payload, signer: signer, header: ProtectedHeader(signer.publicKey))
    }

    static func sign(payload: [UInt8], signer: any MessageSigner, header: ProtectedHeader) throws -> COSESign1 {
        let signature = try signer.sign(toBeSigned(protectedBytes: header.bytes, externalAAD: [], payload: payload))
        return COSESign1(protectedBytes: header.bytes, protectedHeader: header.pairs, payload: payload, signature: signature)
    }

    /// The FP1 protected header of one key, encoded once and reused for every message it signs.
    public struct ProtectedHeader: Sendable {
        let pairs: [CBORPair]
        let bytes: [UInt8]
        public init(_ key: PublicKey) {
            pairs = [CBORPair(.int(COSESign1.algLabel), .int(key.algorithm.coseAlgorithm)),
                     CBORPair(.int(COSESign1.kidLabel), .bytes(key.kid))]
            bytes = CBOREncoder.encode(.map(pairs))
        }
    }

    static func sign(payload: [UInt8], with key: PrivateKey, header: ProtectedHeader) -> COSESign1 {
        let signature = key.sign(toBeSigned(protectedBytes: header.bytes, externalAAD: [], payload: payload))
        return COSESign1(protectedBytes: header.bytes, protectedHeader: header.pairs, payload: payload, signature: signature)
    }

    /// Signs with arbitrary headers and external AAD: the general COSE layer, for test vectors
    /// and for messages other than permits.
    public static func sign(protectedHeader: [CBORPair], unprotectedHeader: [CBORPair] = [], payload: [UInt8],
                            externalAAD: [UInt8] = [], with key: PrivateKey) -> COSESign1 {
        let protectedBytes = protectedHeader.isEmpty ? [] : CBOREncoder.encode(.map(protectedHeader))
        let signature = key.sign(toBeSigned(protectedBytes: protectedBytes, externalAAD: externalAAD, payload: payload))
        var message = COSESign1(protectedBytes: protectedBytes, protectedHeader: protectedHeader, payload: payload, signature: signature)
        message.unprotectedHeader = unprotectedHeader
        return message
    }

    init(protectedBytes: [UInt8], protectedHeader: [CBORPair], payload: [UInt8], signature: [UInt8]) {
        self.protectedBytes = protectedBytes
        self.protectedHeader = protectedHeader
        self.unprotectedHeader = []
        self.payload = payload
        self.signature = signature
        self.isTagged = true
    }

    /// The message's bytes, tagged with 18 unless it was read untagged.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + signature.count + protectedBytes.count + 16)
        if isTagged { out.append(0xd2) }
        out.append(0x84)
        CBOREncoder.head(2, UInt64(protectedBytes.count), &out)
        out += protectedBytes
        CBOREncoder.append(.map(unprotectedHeader), to: &out)
        CBOREncoder.head(2, UInt64(payload.count), &out)
        out += payload
        CBOREncoder.head(2, UInt64(signature.count), &out)
        out += signature
        return out
    }
}
