/// PermitClient: `PermitService` over HTTP (service.md), for the CLI's `--server` mode.
///
/// Each request is signed on this machine with the caller's own key (RFC 9421, label `permit`);
/// the documents the workflow keeps as evidence (submissions, decisions, administrative actions)
/// are signed by the same key before they are sent. The key never leaves the process. Refusals
/// come back as problem+json and are thrown as the same `Problem`s the local service throws, so
/// the CLI prints the same messages and exits with the same codes in both modes.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PermitAPI
import PermitFoundation
import PermitHTTPSignature
import PermitModel
import PermitSeal

/// The permit service of one authority on a permit server.
public struct HTTPPermitService: PermitService {
    /// The server's base URL, without a trailing slash: `http://127.0.0.1:8080`.
    public let server: String
    /// The authority's code, as `--authority` gave it or as the server's only authority.
    public let authorityCode: String
    /// Its record, read from `GET /v1/authorities` once something asks for it (`authority()`).
    private let record: RecordCache
    /// Who signs the requests; nil allows only the public resources.
    public let signer: PartySigner?
    /// How many items one request carries; a larger batch is sent in several requests, each
    /// idempotent (references and signed decisions), so a retry after a timeout is safe.
    public var chunkSize = 250
    let transport: Transport

    /// The authorities `server` hosts (`GET /v1/authorities`, public), in the server's order.
    public static func hostedAuthorities(server: String, timeout: TimeInterval = 60) async throws -> [AuthorityRecord] {
        let transport = try Transport(server: server, timeout: timeout)
        let hosted: [Wire.AuthoritySummary] = try await transport.json(try await transport.send("GET", "/v1/authorities", signer: nil))
        return hosted.map(\.record)
    }

    /// Connects to `server` and selects `authority` (its code), or the only authority hosted there.
    /// With a code, nothing is asked of the server yet: a code it does not host is refused by the
    /// first request (404 `authority.unknown`, naming the codes it hosts), and the authority's
    /// record is read only if something needs it.
    public static func connect(server: String, authority: String?, signer: PartySigner?,
                               timeout: TimeInterval = 300) async throws -> HTTPPermitService {
        let transport = try Transport(server: server, timeout: timeout)
        if let authority, !authority.isEmpty {
            return HTTPPermitService(server: transport.base, authorityCode: authority, record: RecordCache(nil), signer: signer, transport: transport)
        }
        let hosted: [Wire.AuthoritySummary] = try await transport.json(try await transport.send("GET", "/v1/authorities", signer: nil))
        guard hosted.count == 1 else {
            throw Problem(code: "authority.choose", message: "the server \(transport.base) hosts \(hosted.count) authorities (\(hosted.map(\.code).joined(separator: ", "))): give --authority CODE",
                          field: "authority", rule: "one of \(hosted.map(\.code).joined(separator: ", "))")
        }
        let chosen = hosted[0]
        return HTTPPermitService(server: transport.base, authorityCode: chosen.code, record: RecordCache(chosen.record), signer: signer,
                                 transport: transport)
    }

    var prefix: String { "/v1/authorities/\(Transport.pathSegment(authorityCode))" }

    func get<T: Decodable>(_ path: String, _ query: [(String, String?)] = []) async throws -> T {
        try await transport.json(try await transport.send("GET", prefix + path + Transport.query(query), signer: try requireSigner()))
    }

    func post<T: Decodable, B: Encodable>(_ path: String, json body: B, _ query: [(String, String?)] = []) async throws -> T {
        try await transport.json(try await transport.send("POST", prefix + path + Transport.query(query), body: try WireJSON.encode(body),
                                                          contentType: "application/json", signer: try requireSigner()))
    }

    func post<T: Decodable>(_ path: String, cose: Data) async throws -> T {
        try await transport.json(try await transport.send("POST", prefix + path, body: cose, contentType: "application/cose",
                                                          signer: try requireSigner()))
    }

    func requireSigner() throws -> PartySigner {
        guard let signer else {
            throw Problem(code: "auth.keyNeeded", message: "every request to \(server) is signed: give --key FILE (a firm's or an approver's key) or --admin-key FILE",
                          field: "key", rule: "over --server, requests are signed with a registered key (RFC 9421)")
        }
        return signer
    }

    // MARK: PermitService

    public func authority() async throws -> AuthorityRecord {
        if let known = record.value { return known }
        let hosted: [Wire.AuthoritySummary] = try await transport.json(try await transport.send("GET", "/v1/authorities", signer: nil))
        guard let match = hosted.first(where: { $0.code == authorityCode }) else {
            throw Problem(code: "authority.unknown", message: "the server \(transport.base) hosts no authority \(authorityCode) (it hosts \(hosted.map(\.code).joined(separator: ", ")))",
                          field: "authority", value: authorityCode, rule: "one of the codes GET /v1/authorities lists")
        }
        record.value = match.record
        return match.record
    }

    public func apply(_ items: [SubmissionItem], dryRun: Bool, progress: (@Sendable (Int) -> Void)?) async throws -> [ApplyResult] {
        var results: [ApplyResult] = []
        for chunk in items.chunked(chunkSize) {
            results += try await post("/applications", json: Wire.ApplyRequest(items: chunk, dryRun: dryRun)) as [ApplyResult]
            progress?(results.count)
        }
        return results
    }

    public func amend(number: String, application: Application, submission: Data) async throws -> AmendResult {
        try await post("/permits/\(Transport.pathSegment(number))/amendments", json: Wire.AmendRequest(application: application, submission: submission))
    }

    public func cancel(_ request: Data) async throws -> ApplicationRecord { try await post("/cancellations", cose: request) }

    public func requireApprover(_ department: Department, kid: String) async throws {
        let me: Wire.CallerInfo
        do {
            me = try await get("/caller")
        } catch let error as ProblemList where error.problems.first?.code == "auth.unknownKey" {
            throw Self.notApprover(department, kid: kid)
        }
        guard me.kid == kid, me.role == "approver", me.party == department.rawValue else { throw Self.notApprover(department, kid: kid) }
    }

    /// The refusal the workflow gives a key that is not an approver of `department`.
    static func notApprover(_ department: Department, kid: String) -> Problem {
        Problem(code: "auth.notApprover", message: "the key \(kid) is not a registered approver of \(department.rawValue); nothing was written",
                field: "key", value: kid, rule: "a registered, active approver key of that department")
    }

    public func decisionTargets(_ identifiers: [String]) async throws -> [DecisionTarget] {
        var targets: [DecisionTarget] = []
        for chunk in identifiers.chunked(PageCursor.maxLimit) {
            targets += try await post("/decision-targets", json: Wire.Identifiers(identifiers: chunk)) as [DecisionTarget]
        }
        return targets
    }

    public func decide(department: Department, items: [DecisionItem], progress: (@Sendable (Int) -> Void)?) async throws -> [DecisionResult] {
        var results: [DecisionResult] = []
        for chunk in items.chunked(chunkSize) {
            results += try await post("/departments/\(department.rawValue)/decisions", json: Wire.DecideRequest(items: chunk)) as [DecisionResult]
            progress?(results.count)
        }
        return results
    }

    public func applications(_ query: ApplicationQuery) async throws -> Page<ApplicationRecord> {
        try await get("/applications", [("limit", String(query.limit)), ("after", query.after), ("state", query.state?.rawValue),
                                        ("creditCode", query.creditCode), ("plate", query.plate)])
    }

    public func history(_ identifier: String) async throws -> ApplicationHistory {
        try await get("/applications/\(Transport.pathSegment(identifier))")
    }

    public func queue(_ query: QueueQuery) async throws -> Page<QueueEntry> {
        try await get("/departments/\(query.department.rawValue)/queue",
                      [("overdue", query.overdue ? "true" : nil), ("limit", String(query.limit)), ("after", query.after)])
    }

    public func issuedPermit(_ identifier: String) async throws -> PermitRecord {
        try await get("/permits/\(Transport.pathSegment(identifier))")
    }

    public func issuedPermits(since: CalendarDay?) async throws -> [PermitRecord] {
        try await get("/permits", [("since", since?.description)])
    }

    public func report(since: CalendarDay?) async throws -> ActivityReport { try await get("/report", [("since", since?.description)]) }

    public func register(_ request: Data) async throws -> PartyKeyRecord { try await post("/parties", cose: request) }

    public func unregister(_ request: Data) async throws -> PartyKeyRecord { try await post("/parties/removals", cose: request) }

    public func registered(_ kind: PartyKeyRecord.Kind, includeRemoved: Bool) async throws -> [PartyKeyRecord] {
        try await get("/parties", [("kind", kind.rawValue), ("removed", includeRemoved ? "true" : nil)])
    }

    public func revoke(_ request: Data) async throws -> [RevokeOutcome] { try await post("/revocations", cose: request) }

    public func revocations() async throws -> [RevocationRecord] { try await get("/revocations") }

    public func exportRevocations(validForDays: Int, above: Int) async throws -> SignedDocument<RevocationList> {
        let signed: Wire.SignedRevocationList = try await post("/revocation-lists", json: [String: String](),
                                                               [("validForDays", String(validForDays)), ("above", String(above))])
        return SignedDocument(document: signed.list, bytes: Array(signed.cose))
    }

    public func blacklistAdd(_ request: Data) async throws -> BlacklistAddResult { try await post("/blacklist", cose: request) }

    public func blacklistRemove(_ request: Data) async throws -> BlacklistRecord { try await post("/blacklist/removals", cose: request) }

    public func blacklist(includeRemoved: Bool) async throws -> [BlacklistRecord] {
        try await get("/blacklist", [("removed", includeRemoved ? "true" : nil)])
    }

    public func rotateIssuerKey(_ request: Data, root: (any MessageSigner)?) async throws -> KeyRotation {
        guard root == nil else {
            throw Problem(code: "keys.rootRemote", message: "over --server the server signs the new trust list with the root key it holds; leave out --root-key",
                          field: "root-key", rule: "the root key stays where the service runs")
        }
        return try await post("/issuer-keys", cose: request)
    }

    public func trustList(root: any MessageSigner, validForDays: Int) async throws -> SignedDocument<TrustList> {
        throw Problem(code: "trust.remote", message: "trust export signs with the root key where the data directory is; a checkpoint fetches the published list with permit trust pull",
                      field: "server", value: server, rule: "run trust export on the deployment's machine")
    }

    public func auditLog(_ query: AuditLogQuery) async throws -> Page<AuditEvent> {
        try await get("/audit/events", [("subject", query.subject), ("limit", String(query.limit)), ("after", query.after)])
    }

    public func verifyAudit(_ options: AuditOptions) async throws -> AuditVerification {
        if options.sinceCheckpoint {
            throw Problem(code: "audit.sinceCheckpointLocal", message: "--since-checkpoint verifies this machine's store; it is not offered over HTTP",
                          field: "since-checkpoint", rule: "run permit audit verify --since-checkpoint where the data directory (or database URL) is")
        }
        var checkpoints: [Data] = []
        for url in options.checkpointFiles {
            guard let bytes = FileManager.default.contents(atPath: url.path) else {
                throw Problem(code: "checkpoint.unreadable", message: "cannot read \(url.path)", field: "checkpoint", value: url.path,
                              rule: "a checkpoint file made by permit audit checkpoint")
            }
            checkpoints.append(bytes)
        }
        return try await post("/audit/verification", json: Wire.AuditRequest(checkpoints: checkpoints))
    }

    public func auditCheckpoint() async throws -> SignedDocument<AuditCheckpoint> {
        let signed: Wire.SignedCheckpoint = try await post("/audit/checkpoints", json: [String: String]())
        return SignedDocument(document: signed.checkpoint, bytes: Array(signed.cose))
    }
}

extension Array {
    /// The array in consecutive slices of at most `size` (one empty slice for an empty array, so
    /// that an empty batch still makes its one request and gets its answer).
    func chunked(_ size: Int) -> [[Element]] {
        guard !isEmpty else { return [[]] }
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

/// The authority's record once read; shared by the copies of one `HTTPPermitService`.
final class RecordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: AuthorityRecord?
    init(_ record: AuthorityRecord?) { stored = record }
    var value: AuthorityRecord? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
