import Crypto
import Foundation
import RawStructuredFieldValues

/// RFC 9530 `Content-Digest`: what we send is `sha-256=:BASE64:`; what we check must carry a
/// `sha-256` member that matches the body, and any `sha-512` member must match too.
public enum ContentDigest {
    /// The `Content-Digest` field value for `body`: `sha-256=:…:`.
    public static func fieldValue(for body: [UInt8]) -> String {
        "sha-256=:\(Data(SHA256.hash(data: body)).base64EncodedString()):"
    }

    /// Checks a received `Content-Digest` value against the body. Algorithms other than
    /// `sha-256` and `sha-512` are ignored, as RFC 9530 §2 allows; `sha-256` is required.
    public static func check(_ fieldValue: String?, body: [UInt8]) throws(HTTPSignatureError) {
        let field = "Content-Digest"
        guard let fieldValue else {
            throw HTTPSignatureError(.digest, "Content-Digest is missing; a request with a body must carry it",
                                     field: field, rule: "Content-Digest: sha-256=:BASE64: over the body (RFC 9530)")
        }
        let members: OrderedMap<String, ItemOrInnerList>
        do {
            var parser = StructuredFieldValueParser(Array(fieldValue.utf8))
            members = try parser.parseDictionaryFieldValue()
        } catch {
            throw HTTPSignatureError(.digest, "Content-Digest is not an RFC 8941 Dictionary", field: field,
                                     value: fieldValue, rule: "a Dictionary such as sha-256=:BASE64:")
        }
        guard members["sha-256"] != nil else {
            throw HTTPSignatureError(.digest, "Content-Digest has no sha-256 member", field: field,
                                     value: fieldValue, rule: "a sha-256 member (RFC 9530)")
        }
        for (algorithm, member) in members {
            let expected: [UInt8]
            switch algorithm {
            case "sha-256": expected = Array(SHA256.hash(data: body))
            case "sha-512": expected = Array(SHA512.hash(data: body))
            default: continue
            }
            guard case .item(let item) = member, case .undecodedByteSequence(let b64) = item.rfc9651BareItem,
                  let got = Data(base64Encoded: b64) else {
                throw HTTPSignatureError(.digest, "Content-Digest member \(algorithm) is not a byte sequence",
                                         field: field, value: fieldValue, rule: "\(algorithm)=:BASE64:")
            }
            guard Array(got) == expected else {
                throw HTTPSignatureError(.digest, "Content-Digest \(algorithm) does not match the body",
                                         field: field, value: fieldValue,
                                         rule: "\(algorithm) of the \(body.count)-byte body")
            }
        }
    }
}
