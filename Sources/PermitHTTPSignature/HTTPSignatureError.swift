import PermitModel

/// Why a request signature could not be made or was refused.
///
/// Every refusal of ``RequestSignature/verify(_:now:key:)`` is one of these, with a stable
/// ``Code`` that the server maps to `401` problem+json, and a message that names the field, the
/// value received and the rule it broke. Nothing secret is ever put in the message or value.
public struct HTTPSignatureError: Error, Hashable, Sendable, CustomStringConvertible, ProblemConvertible {
    /// The stable codes; the raw value is what goes into problem+json's `code`.
    public enum Code: String, Sendable, CaseIterable {
        /// No `Signature-Input` or `Signature` field, or neither has the `permit` label.
        case missing = "auth.missing"
        /// A field that is not a valid RFC 8941 value, or a parameter of the wrong type or shape.
        case malformed = "auth.malformed"
        /// The covered components are not exactly the ones the contract requires.
        case components = "auth.components"
        /// A covered component is absent from the request, or its value cannot go into a signature base.
        case component = "auth.component"
        /// `tag` is not `freight-permit`.
        case tag = "auth.tag"
        /// `alg` is not one we accept, or does not match the key's algorithm.
        case algorithm = "auth.algorithm"
        /// `expires` is not after `created`, or more than 300 s after it.
        case lifetime = "auth.lifetime"
        /// `created` is more than 60 s ahead of the verifier's clock.
        case future = "auth.future"
        /// The verifier's clock is past `expires`.
        case expired = "auth.expired"
        /// The nonce is not canonical unpadded base64url of at least 16 bytes.
        case nonce = "auth.nonce"
        /// No key is registered (or it was removed) under `keyid`.
        case unknownKey = "auth.unknownKey"
        /// `Content-Digest` is missing, unreadable, or does not match the body.
        case digest = "auth.digest"
        /// The signature does not verify with the key.
        case badSignature = "auth.badSignature"
    }

    /// What was refused, stable across releases.
    public var code: Code
    /// One sentence naming the field, the value and the rule, for people.
    public var message: String
    /// The field or parameter concerned, e.g. `Signature-Input;created` or `Content-Digest`.
    public var field: String?
    /// The value received, shortened when long.
    public var value: String?
    /// The rule the value broke.
    public var rule: String?

    /// An error; `value` is shortened to 200 characters.
    public init(_ code: Code, _ message: String, field: String? = nil, value: String? = nil, rule: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.value = value.map(HTTPSignatureError.shortened)
        self.rule = rule
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }

    /// The error as the project's `{code, message, field, value, rule}`, for problem+json.
    public var problems: [Problem] {
        [Problem(code: code.rawValue, message: message, field: field, value: value, rule: rule)]
    }

    /// Values echo what a client sent; a bounded length keeps a hostile header out of logs.
    static func shortened(_ text: String) -> String {
        text.count <= 200 ? text : String(text.prefix(200)) + "…"
    }
}
