import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore

extension Workflow {
    /// `audit verify --since-checkpoint`: the audit chain verified incrementally from the latest
    /// stored checkpoint whose signature verifies with an issuer key of this authority (held to
    /// the trust list, as in the full verify).
    ///
    /// What it checks:
    ///   - that checkpoint's signature, authority, length and head against its stored row;
    ///   - that the stored chain still holds an event at the checkpoint's length whose hash is
    ///     the checkpoint's head (one row read: a chain truncated or rebuilt up to there is named);
    ///   - every event after it: sequence, previous-hash link and hash, from the checkpoint's head on;
    ///   - each issuer key in the database against the trust list.
    /// What only the full `verifyAudit` checks: the events before the checkpoint one by one (an
    /// event rewritten below the checkpoint whose later links still hold is not named here), the
    /// applications', decisions' and permits' signatures and stored columns, the signed
    /// requests, and checkpoint files kept elsewhere.
    ///
    /// With no stored checkpoint that verifies, it throws `audit.noCheckpoint` (the CLI exits 2):
    /// it does not fall back to a full verify, whose cost the caller did not ask for.
    public func verifyAuditSinceCheckpoint(trustList: URL? = nil, root: URL? = nil) async throws -> AuditVerification {
        let started = DispatchTime.now().uptimeNanoseconds
        let anchor = try auditTrustAnchor(trustList: trustList, root: root)
        let code = authority.code
        var verification = try await store.read { r in
            var findings: [AuditFinding] = []
            let (issuerKeys, trustNote, trustChecked) = anchor.holdIssuerKeys(try r.keys(role: .issuer), authority: code,
                                                                              checkedAgainstThem: "checkpoints", findings: &findings)

            // The latest stored checkpoint that verifies; newer ones that do not are named.
            let stored = try r.auditCheckpoints().sorted { ($0.length, $0.id ?? 0) > ($1.length, $1.id ?? 0) }
            var used: (record: AuditCheckpointRecord, checkpoint: AuditCheckpoint)?
            for c in stored {
                let id = String(c.id ?? 0)
                do {
                    let checkpoint = try Workflow.verifiedCheckpoint(Array(c.signature), issuerKeys: issuerKeys)
                    guard checkpoint.authority == code, checkpoint.length == c.length, checkpoint.head == c.headHash else {
                        findings.append(AuditFinding(check: "checkpoint", table: "auditCheckpoint", id: id,
                                                     message: "stored checkpoint \(id): its row (length \(c.length), head \(c.headHash.prefix(12))…) is not what it signs (authority \(checkpoint.authority), length \(checkpoint.length), head \(checkpoint.head.prefix(12))…)"))
                        continue
                    }
                    used = (c, checkpoint)
                    break
                } catch {
                    findings.append(AuditFinding(check: "checkpoint", table: "auditCheckpoint", id: id, message: "stored checkpoint \(id): \(error)"))
                }
            }
            guard let used else {
                throw WorkflowError("audit.noCheckpoint",
                                    stored.isEmpty
                                        ? "authority \(code) has no stored audit checkpoint to verify from: run `permit audit checkpoint` first, or a full `permit audit verify`"
                                        : "none of authority \(code)'s \(stored.count) stored audit checkpoint(s) verifies with a listed issuer key: run a full `permit audit verify`",
                                    field: "since-checkpoint", rule: "a stored checkpoint signed by a listed issuer key (permit audit checkpoint)")
            }
            let cp = used.checkpoint
            let source = "stored checkpoint \(used.record.id ?? 0) (\(cp.time))"

            // The chain still ends, at the checkpoint's length, in its head.
            var prev = AuditChain.genesis
            var intact = true
            if cp.length > 0 {
                let at = try r.auditEvents(subject: nil, afterSeq: cp.length - 1, limit: 1).first
                if let at, at.seq == cp.length {
                    if at.hash != cp.head {
                        findings.append(AuditFinding(check: "checkpoint", table: "audit", id: String(cp.length),
                                                     message: "rebuilt: \(source) has a different head for event \(cp.length); the chain up to it differs from the checkpointed one (a full audit verify names the range)"))
                        intact = false
                    }
                    prev = at.hash
                } else {
                    findings.append(AuditFinding(check: "checkpoint", table: "audit", id: String(cp.length),
                                                 message: "truncated: \(source) says the chain had \(cp.length) events; event \(cp.length) is missing"))
                    intact = false
                }
            }

            // Every event after it, in pages.
            var after = cp.length
            var verified = 0
            var broken = false
            if intact {
                while true {
                    let page = try r.auditEvents(subject: nil, afterSeq: after, limit: 5_000)
                    if page.isEmpty { break }
                    for e in page {
                        verified += 1
                        defer { prev = e.hash; after = e.seq }
                        if broken { continue }
                        var why: String?
                        if e.seq != after + 1 {
                            why = "sequence jumps from \(after) to \(e.seq)"
                        } else if e.prevHash != prev {
                            why = "its previous-hash link does not match event \(e.seq - 1)"
                        } else if AuditChain.hash(seq: e.seq, atMillis: Millis.from(e.at), actor: e.actor, action: e.action, subject: e.subject,
                                                  content: e.content, prevHash: e.prevHash) != e.hash {
                            why = "its content does not match its hash"
                        }
                        if let why {
                            findings.append(AuditFinding(check: "chain", table: "audit", id: String(e.seq), message: "audit event \(e.seq): \(why)"))
                            broken = true
                        }
                    }
                }
            }
            var v = AuditVerification(events: verified, applications: 0, decisions: 0, permits: 0, checkpoints: 1,
                                      trustList: trustNote, trustListChecked: trustChecked, findings: findings)
            v.sinceCheckpoint = AuditSinceCheckpoint(id: used.record.id ?? 0, length: cp.length, head: cp.head, time: cp.time,
                                                     eventsVerified: verified, chainLength: max(after, cp.length))
            return v
        }
        verification.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return verification
    }
}
