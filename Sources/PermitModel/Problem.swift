/// One thing wrong with an input or a request, in the shape every `--json` error takes:
/// `{"code", "message", "field", "value", "rule"}`, leaving out what does not apply.
///
/// `code` is stable (tests and scripts match on it); `message` is for people and names the
/// field, the value and the rule that was broken.
public struct Problem: Error, Codable, Hashable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var field: String?
    public var value: String?
    public var rule: String?

    public init(code: String, message: String, field: String? = nil, value: String? = nil, rule: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.value = value
        self.rule = rule
    }

    public var description: String { message }
}

/// An error that can describe itself as one or more `Problem`s, for `--json` output and exit codes.
public protocol ProblemConvertible: Error {
    var problems: [Problem] { get }
}

extension Problem: ProblemConvertible {
    public var problems: [Problem] { [self] }
}
