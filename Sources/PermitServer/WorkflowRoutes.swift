import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal

/// The signed routes under `/v1/authorities/{code}`: every workflow verb of `PermitService`.
///
/// A route checks that the verified caller may act on the resource (403 otherwise: another
/// firm's application, another department's queue, an admin verb without the admin key, a signed
/// document made by another key than the one that signed the request), decodes the body, calls
/// the service and encodes the result. The rules stay in the workflow, which checks every signed
/// document again against the registered keys.
struct WorkflowRoutes: Sendable {

    static let coseType = "application/cose"

    func register(on group: RouterGroup<PermitServer.Context>) {
        group.get("caller") { _, context -> Response in
            let caller = try await authorised(context, firm: true, approver: true)
            return try JSONBody.response(Wire.CallerInfo(kid: caller.kid, role: caller.caller.role, party: caller.caller.party))
        }

        // MARK: firms
        group.post("applications") { request, context -> Response in
            let caller = try await authorised(context, firm: true)
            let body: Wire.ApplyRequest = try await JSONBody.decode(request)
            for item in body.items { if let s = item.submission { try signedBy(caller, Array(s), field: "items[\(item.index)].submission") } }
            return try JSONBody.response(try await service(context).apply(body.items, dryRun: body.dryRun ?? false, progress: nil))
        }
        group.get("applications") { request, context -> Response in
            let caller = try await authorised(context, firm: true, approver: true)
            var query = ApplicationQuery(limit: try request.uri.limit(), after: request.uri.queryParameters.get("after"))
            query.state = try request.uri.enumParameter("state")
            query.plate = request.uri.queryParameters.get("plate")
            query.creditCode = request.uri.queryParameters.get("creditCode")
            switch caller.caller {
            case .firm(let code):
                if let asked = query.creditCode, asked != code { throw forbidden(caller, "another firm's applications", field: "creditCode", value: asked) }
                query.creditCode = code
            case .approver(let department): query.department = department
            case .admin: break
            }
            return try JSONBody.response(try await service(context).applications(query))
        }
        group.get("applications/:id") { request, context -> Response in
            let caller = try await authorised(context, firm: true, approver: true)
            let history = try await service(context).history(try context.parameters.require("id"))
            try mayRead(caller, application: history.application, routed: history.required.map(\.department))
            return try JSONBody.response(history)
        }
        group.post("cancellations") { request, context -> Response in
            let caller = try await authorised(context, firm: true)
            let bytes = try await JSONBody.cose(request)
            try signedBy(caller, bytes, field: "body")
            return try JSONBody.response(try await service(context).cancel(Data(bytes)))
        }
        group.post("permits/:id/amendments") { request, context -> Response in
            let caller = try await authorised(context, firm: true)
            let body: Wire.AmendRequest = try await JSONBody.decode(request)
            try signedBy(caller, Array(body.submission), field: "submission")
            return try JSONBody.response(try await service(context).amend(number: try context.parameters.require("id"),
                                                                 application: body.application, submission: body.submission))
        }

        // MARK: reading permits
        group.get("permits/:id") { request, context -> Response in
            let caller = try await authorised(context, firm: true, approver: true)
            let id = try context.parameters.require("id")
            if caller.caller != .admin {
                let history = try await service(context).history(id)
                try mayRead(caller, application: history.application, routed: history.required.map(\.department))
            }
            return try JSONBody.response(try await service(context).issuedPermit(id))
        }
        group.get("permits") { request, context -> Response in
            _ = try await authorised(context)
            return try JSONBody.response(try await service(context).issuedPermits(since: try request.uri.dayParameter("since")))
        }
        group.get("report") { request, context -> Response in
            _ = try await authorised(context)
            return try JSONBody.response(try await service(context).report(since: try request.uri.dayParameter("since")))
        }

        // MARK: approvers
        group.get("departments/:department/queue") { request, context -> Response in
            let department = try departmentParameter(context)
            _ = try await authorised(context, approverOf: department)
            let overdue = request.uri.flag("overdue")
            return try JSONBody.response(try await service(context).queue(QueueQuery(department: department, overdue: overdue, limit: try request.uri.limit(),
                                                                            after: request.uri.queryParameters.get("after"))))
        }
        group.post("decision-targets") { request, context -> Response in
            _ = try await authorised(context, approver: true, adminToo: false)
            let body: Wire.Identifiers = try await JSONBody.decode(request)
            return try JSONBody.response(try await service(context).decisionTargets(body.identifiers))
        }
        group.post("departments/:department/decisions") { request, context -> Response in
            let department = try departmentParameter(context)
            let caller = try await authorised(context, approverOf: department, adminToo: false)
            let body: Wire.DecideRequest = try await JSONBody.decode(request)
            for item in body.items { if let d = item.decision { try signedBy(caller, Array(d), field: "items[\(item.index)].decision") } }
            return try JSONBody.response(try await service(context).decide(department: department, items: body.items, progress: nil))
        }

        // MARK: administration
        adminAction(group, "parties") { try await $0.register(Data($1)) }
        adminAction(group, "parties/removals") { try await $0.unregister(Data($1)) }
        group.get("parties") { request, context -> Response in
            _ = try await authorised(context)
            let kind: PartyKeyRecord.Kind = try request.uri.enumParameter("kind") ?? .applicant
            return try JSONBody.response(try await service(context).registered(kind, includeRemoved: request.uri.flag("removed")))
        }
        adminAction(group, "revocations") { try await $0.revoke(Data($1)) }
        group.get("revocations") { _, context -> Response in
            _ = try await authorised(context)
            return try JSONBody.response(try await service(context).revocations())
        }
        group.post("revocation-lists") { request, context -> Response in
            _ = try await authorised(context)
            let days = try request.uri.intParameter("validForDays") ?? 1
            let files = PublishedFiles(directory: try hosted(context).directory)
            let above = max(try request.uri.intParameter("above") ?? 0, RevocationList.publishedSequence(at: files.directory.revocations))
            let signed = try await service(context).exportRevocations(validForDays: days, above: above)
            // Published where every instance serves it from (GET …/revocations.cose).
            try files.publishRevocations(signed.bytes)
            return try JSONBody.response(Wire.SignedRevocationList(list: signed.document, cose: Data(signed.bytes)))
        }
        adminAction(group, "blacklist") { try await $0.blacklistAdd(Data($1)) }
        adminAction(group, "blacklist/removals") { try await $0.blacklistRemove(Data($1)) }
        group.get("blacklist") { request, context -> Response in
            _ = try await authorised(context)
            return try JSONBody.response(try await service(context).blacklist(includeRemoved: request.uri.flag("removed")))
        }
        adminAction(group, "issuer-keys") { try await $0.rotateIssuerKey(Data($1), root: nil) }

        // MARK: audit
        group.get("audit/events") { request, context -> Response in
            _ = try await authorised(context)
            return try JSONBody.response(try await service(context).auditLog(AuditLogQuery(
                subject: request.uri.queryParameters.get("subject"), limit: try request.uri.limit(),
                after: request.uri.queryParameters.get("after"))))
        }
        group.post("audit/verification") { request, context -> Response in
            _ = try await authorised(context)
            let body: Wire.AuditRequest = try await JSONBody.decode(request)
            // Checkpoints kept elsewhere travel in the body; the workflow reads them as files.
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("permit-audit-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            var urls: [URL] = []
            for (n, bytes) in (body.checkpoints ?? []).enumerated() {
                let url = folder.appendingPathComponent("checkpoint-\(n).cose")
                try bytes.write(to: url)
                urls.append(url)
            }
            return try JSONBody.response(try await service(context).verifyAudit(AuditOptions(checkpointFiles: urls)))
        }
        group.post("audit/checkpoints") { _, context -> Response in
            _ = try await authorised(context)
            let signed = try await service(context).auditCheckpoint()
            return try JSONBody.response(Wire.SignedCheckpoint(checkpoint: signed.document, cose: Data(signed.bytes)))
        }
    }

    /// An administrative action: a COSE_Sign1 body signed by the admin key that signed the request.
    func adminAction<T: Encodable>(_ group: RouterGroup<PermitServer.Context>, _ path: RouterPath,
                                   _ call: @escaping @Sendable (any PermitService, [UInt8]) async throws -> T) {
        group.post(path) { request, context -> Response in
            let caller = try await authorised(context)
            let bytes = try await JSONBody.cose(request)
            try signedBy(caller, bytes, field: "body")
            return try JSONBody.response(try await call(try service(context), bytes))
        }
    }

    // MARK: authorisation

    /// The authority the path names, as the authenticator found it.
    func hosted(_ context: PermitServer.Context) throws -> HostedAuthority {
        guard let hosted = context.authority else {
            throw HTTPProblem(.unauthorized, code: "auth.missing", detail: "the request is not signed", rule: "every request that is not public is signed (RFC 9421)")
        }
        return hosted
    }

    /// The service of the authority the path names.
    func service(_ context: PermitServer.Context) throws -> any PermitService { try hosted(context).service }

    /// The verified caller, if its role may use the route: the admin always (unless `adminToo`
    /// is false), a firm or an approver where allowed. Also refuses a path naming another
    /// authority (404).
    func authorised(_ context: PermitServer.Context, firm: Bool = false, approver: Bool = false,
                    approverOf department: Department? = nil, adminToo: Bool = true) async throws -> RegisteredCaller {
        guard let caller = context.caller else {
            throw HTTPProblem(.unauthorized, code: "auth.missing", detail: "the request is not signed", rule: "every request that is not public is signed (RFC 9421)")
        }
        switch caller.caller {
        case .admin where adminToo: return caller
        case .firm where firm: return caller
        case .approver where approver: return caller
        case .approver(let d) where department != nil:
            if d == department { return caller }
            throw forbidden(caller, "the work of \(department!.rawValue)", field: "department", value: department!.rawValue)
        default:
            let who = [adminToo ? "the admin key" : nil, firm ? "a firm's key" : nil,
                       (approver || department != nil) ? "an approver's key" + (department.map { " of \($0.rawValue)" } ?? "") : nil]
                .compactMap { $0 }.joined(separator: " or ")
            throw HTTPProblem(.forbidden, code: "auth.role", detail: "the \(caller.caller.role) key (\(caller.kid)) cannot do this; it needs \(who). Nothing was written",
                              field: "Signature-Input;keyid", value: caller.kid, rule: "needs \(who)")
        }
    }

    /// A firm reads its own applications, an approver those routed to its department, the admin all.
    func mayRead(_ caller: RegisteredCaller, application: ApplicationRecord, routed: [String]) throws {
        switch caller.caller {
        case .admin: return
        case .firm(let code) where application.creditCode == code: return
        case .approver(let d) where routed.contains(d.rawValue): return
        default: throw forbidden(caller, application.publicID, field: "id", value: application.publicID)
        }
    }

    /// A signed document in the body must come from the key that signed the request: a firm
    /// cannot send what another firm signed, nor an approver another approver's decision.
    func signedBy(_ caller: RegisteredCaller, _ bytes: [UInt8], field: String) throws {
        guard let cose = try? COSESign1.decode(bytes) else {
            throw HTTPProblem(.badRequest, code: "request.cose", detail: "\(field) is not a COSE_Sign1", field: field, rule: "COSE_Sign1 (RFC 9052)")
        }
        let kid = cose.kid.map { Hex.encode($0) } ?? ""
        guard kid == caller.kid else {
            throw HTTPProblem(.forbidden, code: "auth.notSigner",
                              detail: "\(field) is signed by \(kid.isEmpty ? "no key" : kid), not by the key that signed the request (\(caller.kid)); nothing was written",
                              field: field, value: kid, rule: "the signed document and the request are signed by the same key")
        }
    }

    func forbidden(_ caller: RegisteredCaller, _ what: String, field: String, value: String) -> HTTPProblem {
        HTTPProblem(.forbidden, code: "auth.forbidden",
                    detail: "the \(caller.caller.role) key \(caller.kid)\(caller.caller.party.map { " of \($0)" } ?? "") may not reach \(what); nothing was written",
                    field: field, value: value, rule: "a firm reaches its own applications, an approver its department's, the admin all")
    }

    func departmentParameter(_ context: PermitServer.Context) throws -> Department {
        do { return try WireRequest.department(context.parameters.get("department")) } catch { throw HTTPProblem(.notFound, error) }
    }
}

extension URI {
    // The checks are WireRequest's (PermitAPI), which the fuzz target calls too.

    /// `limit`, 1…1000, 50 when absent.
    func limit() throws -> Int {
        do { return try WireRequest.limit(queryParameters.get("limit")) } catch { throw HTTPProblem(.badRequest, error) }
    }

    func intParameter(_ name: String) throws -> Int? {
        do { return try WireRequest.intParameter(name, queryParameters.get(name)) } catch { throw HTTPProblem(.badRequest, error) }
    }

    func enumParameter<T: RawRepresentable & CaseIterable>(_ name: String) throws -> T? where T.RawValue == String {
        do { return try WireRequest.enumParameter(name, queryParameters.get(name)) } catch { throw HTTPProblem(.badRequest, error) }
    }

    func dayParameter(_ name: String) throws -> CalendarDay? {
        do { return try WireRequest.dayParameter(name, queryParameters.get(name)) } catch { throw HTTPProblem(.badRequest, error) }
    }

    func flag(_ name: String) -> Bool { WireRequest.flag(queryParameters.get(name)) }
}
