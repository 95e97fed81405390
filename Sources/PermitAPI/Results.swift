import Foundation
import PermitModel

/// The result of one item of `apply`.
public struct ApplyResult: Codable, Sendable {
    public var index: Int
    public var reference: String?
    /// The application ID; nil for a dry run or a refused item.
    public var id: String?
    public var state: String?
    /// True when the reference was submitted before: the existing application is returned.
    public var duplicate: Bool?
    public var departments: [String]?
    public var routingHash: String?
    public var errors: [Problem]?

    public var succeeded: Bool { errors == nil }

    public init(index: Int, reference: String? = nil, id: String? = nil, state: String? = nil, errors: [Problem]? = nil) {
        self.index = index
        self.reference = reference
        self.id = id
        self.state = state
        self.errors = errors
    }
}

/// The result of one item of `approve` or `reject`.
public struct DecisionResult: Codable, Sendable {
    public var index: Int
    /// The identifier as given.
    public var input: String
    public var id: String?
    public var department: String
    public var decision: String
    /// The application's state after the decision: pending, issued or rejected.
    public var state: String?
    public var permitNumber: String?
    /// Microseconds from the start of the completing decision to its commit, when it issued the permit.
    public var issueMicros: Int64?
    public var errors: [Problem]?

    public var succeeded: Bool { errors == nil }

    public init(index: Int, input: String, department: String, decision: String) {
        self.index = index
        self.input = input
        self.department = department
        self.decision = decision
    }
}

