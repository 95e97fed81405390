import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore




extension Workflow {
    public func auditLog(subject: String?) async throws -> [AuditEvent] {
        try await store.read { try $0.auditEvents(subject: subject) }
    }

    /// Signs the chain's current length and head with the issuer key, stores the checkpoint and
    /// returns its COSE bytes (to be kept elsewhere).
    public func auditCheckpoint() async throws -> (AuditCheckpoint, [UInt8]) {
        let key = try await currentIssuerSealer().signer
        let now = clock.now()
        return try await store.write { tx in
            let last = try tx.lastAuditEvent()
            let checkpoint = AuditCheckpoint(authority: authority.code, length: last?.seq ?? 0, head: last?.hash ?? AuditChain.genesis,
                                             time: RFC3339.string(now))
            let bytes = try COSESign1.sign(payload: Array(CanonicalJSON.encode(checkpoint)), signer: key).encoded()
            _ = try tx.insertAuditCheckpoint(AuditCheckpointRecord(length: checkpoint.length, headHash: checkpoint.head, at: now,
                                                                   signerKid: key.publicKey.kidHex, signature: Data(bytes)))
            return (checkpoint, bytes)
        }
    }

    /// Reads a checkpoint signed by one of this authority's issuer keys (current or retired).
    static func verifiedCheckpoint(_ bytes: [UInt8], issuerKeys: [PublicKey]) throws -> AuditCheckpoint {
        let cose = try COSESign1.decode(bytes)
        guard let key = issuerKeys.first(where: { cose.kid == nil || $0.kid == cose.kid! }), (try? cose.verify(with: key)) != nil else {
            throw WorkflowError("checkpoint.signature", "the checkpoint's signature does not verify with an issuer key of this authority")
        }
        let checkpoint = try JSONDecoder().decode(AuditCheckpoint.self, from: Data(cose.payload))
        guard checkpoint.format == AuditCheckpoint.formatName else {
            throw WorkflowError("checkpoint.format", "format is \(checkpoint.format), expected \(AuditCheckpoint.formatName)")
        }
        return checkpoint
    }

    /// Recomputes everything the database claims: the audit chain; each application's digest;
    /// each decision's signature by its registered approver key over this application's digest,
    /// department and decision (for an approval carried over by an amendment, over the digest of
    /// the original application it signed); each permit's payload against the issuer keys and its stored row
    /// (number, plate, signature hash); and the chain against every stored checkpoint and every
    /// checkpoint file given.
    ///
    /// The issuer keys come from the database's `key` table, and each must also be in the trust
    /// list signed by the root key (`trustList` and `root`, by default the data directory's
    /// `trust-list.cose` and `root.pub.pem`; keep copies elsewhere for an audit that does not
    /// trust this machine): someone who replaces the issuer key in the database and re-signs
    /// permits with their own key is named here. Without the default files the audit says so
    /// and uses the database's keys; a file given explicitly must be readable.
    public func verifyAudit(checkpointFiles: [URL] = [], trustList: URL? = nil, root: URL? = nil) async throws -> AuditVerification {
        let anchor = try auditTrustAnchor(trustList: trustList, root: root)
        return try await store.read { r in
            var findings: [AuditFinding] = []
            let events = try r.auditEvents(subject: nil)
            if let broken = AuditChain.firstBrokenLink(events) {
                findings.append(AuditFinding(check: "chain", table: "audit", id: String(broken.seq), message: "audit event \(broken.seq): \(broken.why)"))
            }

            let apps = try r.applications(ApplicationFilter())
            let byID = Dictionary(apps.map { ($0.id!, $0) }, uniquingKeysWith: { a, _ in a })
            for app in apps where Hashing.sha256Hex(app.document) != app.digest {
                findings.append(AuditFinding(check: "application", table: "application", id: app.publicID,
                                             message: "application \(app.publicID): its document does not hash to its recorded digest"))
            }

            let decisions = try r.allDecisions()
            for d in decisions {
                if let problem = try Workflow.checkDecision(d, application: byID[d.applicationID], reader: r) {
                    findings.append(AuditFinding(check: "decision", table: "decision", id: String(d.id ?? 0), message: "decision \(d.id ?? 0): \(problem)"))
                }
            }

            let (issuerKeys, trustNote, trustChecked) = anchor.holdIssuerKeys(try r.keys(role: .issuer), authority: authority.code,
                                                                              checkedAgainstThem: "permits", findings: &findings)
            let permits = try r.permits(limit: nil)
            for p in permits {
                if let problem = Workflow.checkPermit(p, application: byID[p.applicationID], issuerKeys: issuerKeys) {
                    findings.append(AuditFinding(check: "permit", table: "permit", id: p.number, message: "permit \(p.number): \(problem)"))
                }
            }
            // Every stored column that repeats a signed document, held to it (Workflow+AuditColumns).
            findings += try auditColumns(reader: r, events: events, applications: apps, decisions: decisions, permits: permits,
                                         issuerKeys: issuerKeys, firstPass: findings)

            // Checkpoints: stored ones, then the files kept elsewhere; compared in length order.
            var kept: [(source: String, table: String, checkpoint: AuditCheckpoint)] = []
            for c in try r.auditCheckpoints() {
                do {
                    kept.append(("stored checkpoint \(c.id ?? 0)", "auditCheckpoint",
                                 try Workflow.verifiedCheckpoint(Array(c.signature), issuerKeys: issuerKeys)))
                } catch {
                    findings.append(AuditFinding(check: "checkpoint", table: "auditCheckpoint", id: String(c.id ?? 0),
                                                 message: "stored checkpoint \(c.id ?? 0): \(error)"))
                }
            }
            for url in checkpointFiles {
                do {
                    let bytes = try Data(contentsOf: url)
                    kept.append(("checkpoint \(url.lastPathComponent)", "file", try Workflow.verifiedCheckpoint(Array(bytes), issuerKeys: issuerKeys)))
                } catch {
                    findings.append(AuditFinding(check: "checkpoint", table: "file", id: url.path, message: "checkpoint \(url.path): \(error)"))
                }
            }
            var lastGood: Int64 = 0
            for (source, table, c) in kept.sorted(by: { $0.checkpoint.length < $1.checkpoint.length }) {
                let id = table == "file" ? source.replacingOccurrences(of: "checkpoint ", with: "") : String(source.split(separator: " ").last ?? "")
                if c.authority != authority.code {
                    findings.append(AuditFinding(check: "checkpoint", table: table, id: id, message: "\(source) is of authority \(c.authority), not \(authority.code)"))
                } else if c.length > Int64(events.count) {
                    findings.append(AuditFinding(check: "checkpoint", table: "audit", id: String(events.count + 1),
                                                 message: "truncated: \(source) (\(c.time)) says the chain had \(c.length) events; events \(events.count + 1)…\(c.length) are missing"))
                } else if c.length > 0, events[Int(c.length) - 1].hash != c.head {
                    findings.append(AuditFinding(check: "checkpoint", table: "audit", id: String(lastGood + 1),
                                                 message: "rebuilt: \(source) (\(c.time)) has a different head for event \(c.length); events \(lastGood + 1)…\(c.length) differ from the checkpointed chain"))
                } else {
                    lastGood = max(lastGood, c.length)
                }
            }
            let requests = try Workflow.auditSignedRequests(reader: r, events: events)
            findings += requests.findings
            var verification = AuditVerification(events: events.count, applications: apps.count, decisions: decisions.count, permits: permits.count,
                                                 checkpoints: kept.count, trustList: trustNote, trustListChecked: trustChecked, findings: findings)
            verification.requests = requests.count
            verification.notes = requests.notes
            return verification
        }
    }

    enum AuditTrustAnchor {
        case present(list: [UInt8], root: PublicKey, source: String)
        case missing(String)

        /// The issuer keys of `rows` that the root-signed trust list lists for `authority` (all of
        /// them when there is no list), each other key named in `findings`, as is a list that does
        /// not verify; with what the keys were held to, and whether a list was checked.
        /// `checkedAgainstThem` names what the caller checks against the keys, for the finding.
        func holdIssuerKeys(_ rows: [KeyRecord], authority: String, checkedAgainstThem: String,
                            findings: inout [AuditFinding]) -> (keys: [PublicKey], note: String, checked: Bool) {
            let keys = rows.compactMap { try? PublicKey(spki: Array($0.spki)) }
            switch self {
            case .missing(let why):
                return (keys, why, false)
            case .present(let bytes, let rootKey, let source):
                do {
                    let list = try TrustList.verify(bytes, root: rootKey)
                    let listed = Set(try list.resolvedKeys().filter { $0.entry.authority == authority }.map { $0.key.spki })
                    for row in rows where (try? PublicKey(spki: Array(row.spki))).map({ listed.contains($0.spki) }) != true {
                        findings.append(AuditFinding(check: "key", table: "key", id: row.kid,
                                                     message: "issuer key \(row.kid) in the database is not a key of authority \(authority) in the trust list \(source) (sequence \(list.sequence), signed by root \(rootKey.kidHex)); \(checkedAgainstThem) are checked only against listed keys"))
                    }
                    return (keys.filter { listed.contains($0.spki) },
                            "issuer keys held to the trust list \(source), sequence \(list.sequence), signed by root \(rootKey.kidHex)", true)
                } catch {
                    findings.append(AuditFinding(check: "trust", table: "file", id: source,
                                                 message: "the trust list \(source) does not verify with root \(rootKey.kidHex): \((error as? ListError)?.detail ?? "\(error)")"))
                    return (keys, "issuer keys from the database only: the trust list \(source) does not verify", false)
                }
            }
        }
    }

    /// The signed trust list and pinned root for `verifyAudit`: the files given, or the data directory's.
    func auditTrustAnchor(trustList: URL?, root: URL?) throws -> AuditTrustAnchor {
        let listURL = trustList ?? directory.trustList
        let rootURL = root ?? directory.rootPublicKey
        guard let bytes = FileManager.default.contents(atPath: listURL.path) else {
            if trustList != nil {
                throw WorkflowError("audit.trustUnreadable", "cannot read the trust list \(listURL.path)", field: "trust", value: listURL.path,
                                    rule: "a trust list signed by the root key (trust-list.cose)")
            }
            return .missing("issuer keys from the database only: no trust list at \(listURL.path)")
        }
        let rootKey: PublicKey
        do {
            rootKey = try PublicKey.load(path: rootURL.path)
        } catch {
            if root != nil || FileManager.default.fileExists(atPath: rootURL.path) {
                throw WorkflowError("audit.rootUnreadable", "cannot read the root key \(rootURL.path): \(error.detail)", field: "root", value: rootURL.path,
                                    rule: "the root's public key (PEM or DER) or its private key file")
            }
            return .missing("issuer keys from the database only: no root key at \(rootURL.path)")
        }
        return .present(list: Array(bytes), root: rootKey, source: listURL.lastPathComponent)
    }

    /// Why a decision row does not hold, or nil.
    /// A decision carried over by an amendment (`carriedFrom` set) is checked against the
    /// application its original decision signed: the row must keep the original's signature,
    /// approver, department, conditions and time, and that application must be one the amendment
    /// descends from (through `amends`).
    static func checkDecision(_ d: DecisionRecord, application: ApplicationRecord?, reader r: any StoreReader) throws -> String? {
        guard var app = application else { return "its application \(d.applicationID) does not exist" }
        if let from = d.carriedFrom {
            guard let original = try r.decision(id: from) else { return "it is carried over from decision \(from), which does not exist" }
            guard original.carriedFrom == nil else { return "it is carried over from decision \(from), itself a carried-over decision" }
            guard original.signature == d.signature, original.department == d.department, original.approverID == d.approverID,
                  original.approverKid == d.approverKid, original.conditions == d.conditions, original.decidedAt == d.decidedAt,
                  original.decision == d.decision, d.decision == .approve else {
                return "it is carried over from decision \(from) but does not keep that decision's signature, approver, conditions and time"
            }
            var ancestor = app
            var found: ApplicationRecord?
            for _ in 0..<64 {
                guard let amended = ancestor.amends, let previous = try r.application(permitNumber: amended) else { break }
                if previous.id == original.applicationID { found = previous; break }
                ancestor = previous
            }
            guard let signed = found else {
                return "it is carried over from decision \(from) of application \(original.applicationID), which \(app.publicID) does not amend"
            }
            app = signed
        }
        if let raw = d.storedDecision { return "the stored decision \"\(raw)\" is neither approve nor reject" }
        guard let department = Department(rawValue: d.department) else { return "department \(d.department) is not one of the ten" }
        guard let approver = try r.partyKey(id: d.approverID), approver.kind == .approver else {
            return "approver \(d.approverID) is not a registered approver key"
        }
        guard approver.party == d.department else { return "approver \(d.approverID) is registered to \(approver.party), not \(d.department)" }
        guard approver.kid == d.approverKid, let key = try? PublicKey(spki: Array(approver.spki)) else {
            return "the stored approver kid \(d.approverKid) is not the registered key \(approver.kid)"
        }
        guard let cose = try? COSESign1.decode(Array(d.signature)) else { return "the signature is not a COSE_Sign1" }
        guard (try? cose.verify(with: key)) != nil else { return "the signature does not verify with approver \(d.approverID)'s key \(approver.kid)" }
        guard let payload = try? CBORDecoder().decode(cose.payload) else { return "the signed payload is not CBOR" }
        guard payload[1]?.bytes == Hex.decode(app.digest) else { return "it signs another application's digest, not \(app.publicID)'s" }
        guard payload[2]?.uint64 == UInt64(department.number) else { return "it signs another department than \(d.department)" }
        guard payload[3]?.uint64 == (d.decision == .approve ? 1 : 2) else { return "it signs another decision than the stored \(d.decision.rawValue)" }
        guard payload[7]?.bytes == key.kid else { return "it names another approver kid" }
        if d.decision == .approve {
            guard payload[4]?.array?.compactMap(\.text) == d.conditions else { return "the stored conditions are not the signed ones" }
        } else {
            guard payload[5]?.text == (d.reason ?? "") else { return "the stored reason is not the signed one" }
        }
        return nil
    }

    /// Why a permit row does not hold, or nil.
    static func checkPermit(_ p: PermitRecord, application: ApplicationRecord?, issuerKeys: [PublicKey]) -> String? {
        guard let app = application else { return "its application \(p.applicationID) does not exist" }
        guard let decoded = try? PermitText.decode(p.payload) else { return "the payload does not decode" }
        let cose = decoded.cose
        let candidates = issuerKeys.filter { cose.kid == nil || $0.kid == cose.kid! }
        guard candidates.contains(where: { (try? cose.verify(with: $0)) != nil }) else {
            return "the payload's signature does not verify with an issuer key of this authority"
        }
        guard let claims = try? PermitClaims(decoding: cose.payload) else { return "the signed claims are malformed" }
        guard claims.permit.number == p.number else { return "the payload is permit \(claims.permit.number), the row says \(p.number)" }
        guard app.permitNumber == p.number else { return "application \(app.publicID) names permit \(app.permitNumber ?? "none")" }
        guard claims.permit.vehicle.plate == app.plate else {
            return "the payload's plate is \(claims.permit.vehicle.plate), the stored row (application \(app.publicID)) says \(app.plate)"
        }
        if let document = try? JSONDecoder().decode(IssuedPermit.self, from: p.document), document.application.vehicle.plate != claims.permit.vehicle.plate {
            return "the payload's plate is \(claims.permit.vehicle.plate), the stored permit document says \(document.application.vehicle.plate)"
        }
        let hash = RevocationList.hash(ofSignature: cose.signature)
        guard hash == p.signatureHash else { return "the stored signatureHash \(p.signatureHash) is not the payload's \(hash)" }
        return nil
    }
}
