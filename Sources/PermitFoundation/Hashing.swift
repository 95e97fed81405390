import Crypto
import Foundation

/// SHA-256, for kids, revocation hashes, application digests and the audit chain.
public enum Hashing {
    /// The 32-byte SHA-256 digest of `data`.
    public static func sha256<D: DataProtocol>(_ data: D) -> [UInt8] {
        Array(SHA256.hash(data: data))
    }

    /// The SHA-256 digest of `data` as 64 lowercase hex digits.
    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String {
        Hex.encode(sha256(data))
    }
}
