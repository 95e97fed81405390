import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitSeal

// The options many verbs share, each declared once.

extension Department: ExpressibleByArgument {
    /// A department code, case-insensitive: `HEALTH`, `health`.
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension KeyAlgorithm: ExpressibleByArgument {
    /// `EdDSA` (Ed25519) or `ES256` (ECDSA P-256), case-insensitive.
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { KeyAlgorithm.allCases.map(\.rawValue) }
}

/// `--department CODE`: the department a verb acts for.
struct DepartmentOption: ParsableArguments {
    @Option(help: ArgumentHelp("The department code (TRANSPORT, HEALTH, POSTAL…; case-insensitive).", valueName: "CODE"))
    var department: Department
}

/// `--key FILE`: the party's own registered private key (the firm's, or an approver's). The verb
/// signs its request with it on this machine; the key itself goes nowhere.
struct PartyKeyOption: ParsableArguments {
    @Option(help: ArgumentHelp("Your registered private key: the firm's for firm verbs, the approver's for approver verbs.", valueName: "FILE"))
    var key: String

    func signer() throws -> PartySigner { try partySigner(key) }
}

/// `--admin-key FILE`: the authority's admin key, which signs every administrative action.
struct AdminKeyOption: ParsableArguments {
    @Option(name: .customLong("admin-key"), help: ArgumentHelp("The authority's admin key (made by permit init).", valueName: "FILE"))
    var adminKey: String

    func signer() throws -> PartySigner { try partySigner(adminKey, field: "admin-key") }
}

/// What `approve` and `reject` share: the signer, the batch, the whole-request checks, the output.
enum DecisionVerb {
    static func run(department d: Department, key: PartyKeyOption, approve: Bool, conditions: [String], reason: String?,
                    data: DataOptions, output: OutputOptions,
                    identifiers: @escaping (any PermitService) async throws -> [String]) async throws {
        let lang = output.language
        let (results, service): ([DecisionResult], any PermitService) = try await reporting(json: output.json) {
            let signer = try key.signer()
            let service = try await data.service(signer: signer)
            // Refuse a wrong key or a bad condition before reading a long list or the queue.
            try await service.requireApprover(d, kid: signer.kid)
            let problems = DecisionRules.problems(approve: approve, conditions: conditions, reason: reason)
            if !problems.isEmpty { throw ProblemList(problems) }
            let ids = try await identifiers(service)
            let progress = ProgressLine(total: ids.count, label: approve ? lang.pick("审批", "approving") : lang.pick("驳回", "rejecting"))
            defer { progress.finish() }
            let items = signer.decisions(try await service.decisionTargets(ids), department: d, approve: approve,
                                         conditions: conditions, reason: reason)
            return (try await service.decide(department: d, items: items, progress: progress.callback), service)
        }
        try await DecisionOutput.report(results, service: service, output: output)
    }
}
