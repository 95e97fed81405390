import Crypto
// Ed25519's PKCS#8 and SPKI encodings (DER and PEM): swift-crypto 4.5 has them only here.
import CryptoExtras
import Foundation
import PermitFoundation
import PermitModel

/// The signature algorithms an issuer may hold keys for.
public enum KeyAlgorithm: String, Codable, Sendable, CaseIterable {
    /// EdDSA with Ed25519 keys: what issuers write.
    case edDSA = "EdDSA"
    /// ECDSA on P-256 with SHA-256, signatures as raw r‖s.
    case es256 = "ES256"

    /// The COSE `alg` value an issuer writes.
    public var coseAlgorithm: Int64 { self == .edDSA ? -8 : -7 }

    /// The algorithm named by a COSE `alg` value, accepting RFC 9864's fully specified
    /// identifiers (-19 Ed25519, -9 ESP256) as -8 and -7.
    public init?(coseAlgorithm alg: Int64) {
        switch alg {
        case -8, -19: self = .edDSA
        case -7, -9: self = .es256
        default: return nil
        }
    }

    /// Parses the names a user types: EdDSA, Ed25519, ES256, P-256 (any case).
    public init?(name: String) {
        switch name.lowercased() {
        case "eddsa", "ed25519": self = .edDSA
        case "es256", "p-256", "p256", "ecdsa": self = .es256
        default: return nil
        }
    }
}

/// Why a key could not be read, made or used.
public struct KeyError: Error, Hashable, Sendable, CustomStringConvertible, ProblemConvertible {
    public enum Code: String, Sendable {
        case unreadable, notAKey, unsupportedKey, insecurePermissions, alreadyExists, writeFailed
    }
    public var code: Code
    public var path: String?
    public var detail: String
    public var description: String { path.map { "\($0): \(detail)" } ?? detail }
    public var problems: [Problem] {
        [Problem(code: "key.\(code.rawValue)", message: description, field: path == nil ? nil : "key", value: path, rule: nil)]
    }
}

/// A public key that can check signatures, identified by its kid.
public struct PublicKey: Hashable, Sendable {
    public let algorithm: KeyAlgorithm
    /// DER SubjectPublicKeyInfo; P-256 keys use the uncompressed point.
    public let spki: [UInt8]
    /// The first 8 bytes of SHA-256 over `spki`.
    public let kid: [UInt8]
    private let key: Key

    private enum Key: @unchecked Sendable {
        case ed25519(Curve25519.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.spki == b.spki }
    public func hash(into hasher: inout Hasher) { hasher.combine(spki) }

    init(ed25519 key: Curve25519.Signing.PublicKey) {
        algorithm = .edDSA
        spki = Array(key.derRepresentation)
        kid = PublicKey.kid(of: spki)
        self.key = .ed25519(key)
    }

    init(p256 key: P256.Signing.PublicKey) {
        algorithm = .es256
        spki = Array(key.derRepresentation)
        kid = PublicKey.kid(of: spki)
        self.key = .p256(key)
    }

    /// The kid rule of the payload spec: the first 8 bytes of SHA-256 of the DER SPKI.
    public static func kid(of spki: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: spki).prefix(8))
    }

    /// Reads a DER SubjectPublicKeyInfo for an Ed25519 or P-256 key.
    public init(spki der: [UInt8]) throws(KeyError) {
        // An Ed25519 SPKI is taken only in its one RFC 8410 encoding, the bytes its kid covers.
        if let key = try? Curve25519.Signing.PublicKey(derRepresentation: der), Array(key.derRepresentation) == der {
            self.init(ed25519: key)
            return
        }
        if let key = try? P256.Signing.PublicKey(derRepresentation: der) {
            // Re-encode so that the kid always covers the uncompressed point.
            self.init(p256: key)
            return
        }
        throw KeyError(code: .unsupportedKey, detail: "not an Ed25519 or P-256 SubjectPublicKeyInfo")
    }

    /// Reads an SPKI public key from PEM ("PUBLIC KEY") or DER bytes.
    public init(pemOrDER data: [UInt8]) throws(KeyError) {
        guard let text = PEM.text(data) else {
            try self.init(spki: data)
            return
        }
        if let key = try? Curve25519.Signing.PublicKey(pemRepresentation: text) {
            self.init(ed25519: key)
        } else if let key = try? P256.Signing.PublicKey(pemRepresentation: text) {
            self.init(p256: key)
        } else {
            // A layout swift-crypto's PEM reader refuses: the block is found here, its DER read by swift-crypto.
            try self.init(spki: PEM.decode(data, label: "PUBLIC KEY") ?? data)
        }
    }

    /// Reads a public key file (PEM or DER SPKI). A private key file gives its public key.
    public static func load(path: String) throws(KeyError) -> PublicKey {
        let data = try KeyFile.read(path: path)
        if PEM.holdsPrivateKey(data) {
            return try PrivateKey.load(path: path).publicKey
        }
        do {
            return try PublicKey(pemOrDER: data)
        } catch {
            throw KeyError(code: error.code, path: path, detail: error.detail)
        }
    }

    /// Whether `signature` (raw r‖s for ES256) is valid over `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch key {
        case .ed25519(let k):
            return k.isValidSignature(signature, for: message)
        case .p256(let k):
            guard let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return k.isValidSignature(sig, for: message)
        }
    }

    /// The SPKI as padded standard base64, as the trust list writes it.
    public var base64: String { Data(spki).base64EncodedString() }

    /// The SPKI in PEM.
    public var pem: String {
        switch key {
        case .ed25519(let k): return k.pemRepresentation + "\n"
        case .p256(let k): return k.pemRepresentation + "\n"
        }
    }

    public var kidHex: String { Hex.encode(kid) }
}

/// Something that signs with one key: a key file loaded here, a key on the operator's machine,
/// later an HSM. The issuer key (sealing permits) and the root key (trust lists) reach the
/// workflow only through this protocol, so the workflow never needs the key itself.
public protocol MessageSigner: Sendable {
    var publicKey: PublicKey { get }
    /// The signature over `message`: 64 bytes for both algorithms (ES256 as raw r‖s).
    func sign(_ message: [UInt8]) throws -> [UInt8]
}

/// A private signing key. It is never printed, logged or put in `--json`.
public struct PrivateKey: MessageSigner {
    public let publicKey: PublicKey
    private let key: Key

    private enum Key: @unchecked Sendable {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    public var algorithm: KeyAlgorithm { publicKey.algorithm }

    /// A new random key.
    public static func generate(_ algorithm: KeyAlgorithm) -> PrivateKey {
        switch algorithm {
        case .edDSA: return PrivateKey(ed25519: Curve25519.Signing.PrivateKey())
        case .es256: return PrivateKey(p256: P256.Signing.PrivateKey())
        }
    }

    init(ed25519 key: Curve25519.Signing.PrivateKey) {
        self.key = .ed25519(key)
        publicKey = PublicKey(ed25519: key.publicKey)
    }

    init(p256 key: P256.Signing.PrivateKey) {
        self.key = .p256(key)
        publicKey = PublicKey(p256: key.publicKey)
    }

    /// An Ed25519 key from its 32-byte seed (RFC 8032's private key), for test vectors.
    public init(ed25519Seed seed: [UInt8]) throws(KeyError) {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
            throw KeyError(code: .notAKey, detail: "an Ed25519 seed is 32 bytes")
        }
        self.init(ed25519: key)
    }

    /// A P-256 key from its 32-byte scalar, for test vectors.
    public init(p256Scalar d: [UInt8]) throws(KeyError) {
        guard let key = try? P256.Signing.PrivateKey(rawRepresentation: d) else {
            throw KeyError(code: .notAKey, detail: "not a valid P-256 private scalar")
        }
        self.init(p256: key)
    }

    /// The signature over `message`: 64 bytes for both algorithms (ES256 as raw r‖s).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        switch key {
        case .ed25519(let k):
            // BoringSSL's Ed25519 signing does not fail for a valid key.
            return Array(try! k.signature(for: message))
        case .p256(let k):
            return Array(try! k.signature(for: message).rawRepresentation)
        }
    }

    /// PKCS#8 DER.
    var pkcs8: [UInt8] {
        switch key {
        case .ed25519(let k): return Array(k.derRepresentation)
        case .p256(let k): return Array(k.derRepresentation)
        }
    }

    /// PKCS#8 PEM ("PRIVATE KEY"), ending in a line feed.
    public var pkcs8PEM: String {
        switch key {
        case .ed25519(let k): return k.pemRepresentation + "\n"
        case .p256(let k): return k.pemRepresentation + "\n"
        }
    }

    /// Reads a PKCS#8 key (PEM or DER); a P-256 key may also be SEC 1 ("EC PRIVATE KEY").
    public init(pkcs8 data: [UInt8]) throws(KeyError) {
        guard let text = PEM.text(data) else {
            try self.init(pkcs8DER: data)
            return
        }
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: text) {
            self.init(p256: key)
        } else if let key = try? Curve25519.Signing.PrivateKey(pemRepresentation: text),
                  text.replacingOccurrences(of: "\r\n", with: "\n").contains(key.pemRepresentation) {
            // swift-crypto reads any RFC 8410 key here (an X25519 one too); the document must be
            // this Ed25519 key's own PKCS#8.
            self.init(ed25519: key)
        } else {
            // A layout swift-crypto's PEM reader refuses: the block is found here, its DER read by swift-crypto.
            try self.init(pkcs8DER: PEM.decode(data, label: "PRIVATE KEY") ?? data)
        }
    }

    private init(pkcs8DER der: [UInt8]) throws(KeyError) {
        // Ed25519 only in its one RFC 8410 encoding: swift-crypto does not check the algorithm.
        if let key = try? Curve25519.Signing.PrivateKey(derRepresentation: der), Array(key.derRepresentation) == der {
            self.init(ed25519: key)
        } else if let key = try? P256.Signing.PrivateKey(derRepresentation: der) {
            self.init(p256: key)
        } else {
            throw KeyError(code: .unsupportedKey, detail: "not a PKCS#8 Ed25519 or P-256 private key")
        }
    }

    /// Writes the key as PKCS#8 PEM to a new file created with mode 0600. An existing file is
    /// not overwritten unless `overwrite` is set (and then it is replaced, still 0600).
    public func save(path: String, overwrite: Bool = false) throws(KeyError) {
        try KeyFile.writeSecret(Array(pkcs8PEM.utf8), path: path, overwrite: overwrite)
    }

    /// Reads a private key file, refusing one that its group or others can read or write.
    public static func load(path: String) throws(KeyError) -> PrivateKey {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw KeyError(code: .unreadable, path: path, detail: "cannot read the key file (\(String(cString: strerror(errno))))")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw KeyError(code: .insecurePermissions, path: path,
                           detail: "private key file has mode \(String(mode, radix: 8)); it must not be readable by others (chmod 600)")
        }
        let data = try KeyFile.read(path: path)
        do {
            return try PrivateKey(pkcs8: data)
        } catch {
            throw KeyError(code: error.code, path: path, detail: error.detail)
        }
    }
}

/// PEM armour (RFC 7468) beyond swift-crypto's: its readers take one document of 64-character
/// lines alone in the text, where key files met in practice also hold explanatory text, other
/// blocks, or other line lengths. Keys are written and, where they can be, read by swift-crypto.
enum PEM {
    /// The text of `data` when it is UTF-8 holding a PEM boundary, else nil (DER).
    static func text(_ data: [UInt8]) -> String? {
        guard let text = String(validating: data, as: UTF8.self), text.contains("-----BEGIN ") else { return nil }
        return text
    }

    /// Whether `data` holds a private key's PEM block (PKCS#8, or SEC 1 for P-256).
    static func holdsPrivateKey(_ data: [UInt8]) -> Bool {
        guard let text = text(data) else { return false }
        return text.contains("-----BEGIN PRIVATE KEY-----") || text.contains("-----BEGIN EC PRIVATE KEY-----")
    }

    /// The DER inside the first PEM block with `label`, or nil if there is none.
    static func decode(_ data: [UInt8], label: String) -> [UInt8]? {
        guard let text = String(validating: data, as: UTF8.self),
              let begin = text.range(of: "-----BEGIN \(label)-----"),
              let end = text.range(of: "-----END \(label)-----", range: begin.upperBound..<text.endIndex)
        else { return nil }
        let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(body)).map { Array($0) }
    }
}

/// File access for key material.
enum KeyFile {
    static func read(path: String) throws(KeyError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError(code: .unreadable, path: path, detail: "cannot read the key file")
        }
        return Array(data)
    }

    /// Creates the file with mode 0600 from the start, so the secret is never readable by others.
    static func writeSecret(_ bytes: [UInt8], path: String, overwrite: Bool) throws(KeyError) {
        if overwrite { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "the file exists already; refusing to overwrite a key" : String(cString: strerror(errno))
            throw KeyError(code: errno == EEXIST ? .alreadyExists : .writeFailed, path: path, detail: reason)
        }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw KeyError(code: .writeFailed, path: path, detail: "could not write the key file")
        }
    }
}
