import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitTestSupport
import PermitWorkflow

/// `scripts/bench workflow`: 10,000 applications from JSON Lines are applied, batch-approved by
/// every required department and issued automatically, on the embedded SQLite store. Reports
/// permits per second end to end, beside raw Ed25519 signing measured in the same run (each
/// permit takes at least three signatures: the submission, each decision, the payload), and
/// decision-to-issue latency (from the start of the completing decision to its commit).
func runWorkflowBench() async throws {
    let count = Int(ProcessInfo.processInfo.environment["PERMIT_BENCH_COUNT"] ?? "") ?? 10_000
    let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-bench-\(UUID().uuidString)"))
    defer { try? FileManager.default.removeItem(at: dir.url) }
    let (workflow, approvers, firm, template, _) = try await BenchAuthority.make(in: dir)

    // The fleet file: every category in turn, so routing spreads over all ten departments.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var jsonl = Data()
    for i in 0..<count {
        var a = template
        a.reference = "BENCH-\(i)"
        let digits = String(i)
        a.vehicle.plate = "浙A" + String(repeating: "0", count: 5 - digits.count) + digits
        let category = CargoCategory.all[i % CargoCategory.all.count]
        let second = category.slug == "mail-and-parcels" ? "medical-supplies" : "mail-and-parcels"
        a.cargo.categories = i % 7 == 0 ? [category.slug, second] : [category.slug]
        jsonl += try encoder.encode(a) + Data("\n".utf8)
    }

    let rawSign = Rate.measure { _ in _ = firm.sign(Array(jsonl.prefix(300))) }
    let sampleSignature = firm.sign(Array(jsonl.prefix(300)))
    let rawVerify = Rate.measure { _ in _ = firm.publicKey.isValidSignature(sampleSignature, for: Array(jsonl.prefix(300))) }
    // The clients' signing (firm, then each department) is timed apart from the workflow, which
    // verifies every submission and decision against the registered keys.
    var clientNanos: UInt64 = 0
    func client<T>(_ body: () throws -> T) rethrows -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { clientNanos += DispatchTime.now().uptimeNanoseconds - t0 }
        return try body()
    }
    let start = DispatchTime.now().uptimeNanoseconds
    let items = ApplicationFile.parse(jsonl, format: .jsonl)
    let signedItems = client { workflow.signer(firm).submissions(items) }
    let applied = try await workflow.apply(signedItems)
    let applyEnd = DispatchTime.now().uptimeNanoseconds
    var refusals: [String: Int] = [:]
    for r in applied { if let e = r.errors?.first { refusals["\(e.code) \(e.field ?? "")", default: 0] += 1 } }
    var latencies: [Int64] = []
    var decisions = 0
    for d in Department.allCases {
        let queue = try await workflow.queue(department: d, overdue: false).map { DecisionTarget(input: $0.0.publicID, id: $0.0.publicID, digest: $0.0.digest) }
        let signed = client { workflow.signer(approvers[d]!).decisions(queue, department: d, approve: true) }
        let results = try await workflow.decide(department: d, items: signed)
        decisions += results.count
        latencies += results.compactMap(\.issueMicros)
    }
    let end = DispatchTime.now().uptimeNanoseconds
    let walSize = (try? FileManager.default.attributesOfItem(atPath: dir.database.path + "-wal")[.size] as? Int) ?? 0
    let dbSize = (try? FileManager.default.attributesOfItem(atPath: dir.database.path)[.size] as? Int) ?? 0
    let issued = latencies.count
    let seconds = Double(end - start) / 1e9
    latencies.sort()
    func pct(_ p: Double) -> Int64 { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
    let rate = Double(issued) / seconds
    print("workflow bench: \(count) applications (JSON Lines) → apply → \(decisions) signed approvals → automatic issuance, SQLite WAL")
    print("  applied \(applied.filter(\.succeeded).count) in \(String(format: "%.2f", Double(applyEnd - start) / 1e9)) s; issued \(issued) permits in \(String(format: "%.2f", seconds)) s end to end")
    print(String(format: "  end to end: %.0f permits/s (target ≥ 1000); raw Ed25519 sign in the same run %.0f/s; ratio %.4f", rate, rawSign, rate / rawSign))
    let serverSeconds = seconds - Double(clientNanos) / 1e9
    let verifications = Double(applied.count + decisions)
    print(String(format: "  of which clients signing %.2f s; the workflow alone %.0f permits/s", Double(clientNanos) / 1e9, Double(issued) / serverSeconds))
    print(String(format: "  request signatures checked by the workflow: %.0f (%.2f per permit); at raw Ed25519 verification (%.0f/s in this run) that is %.2f s, %.0f%% of the workflow's time",
                 verifications, verifications / Double(max(issued, 1)), rawVerify, verifications / rawVerify, 100 * verifications / rawVerify / serverSeconds))
    if !refusals.isEmpty { print("  refused at apply: \(refusals.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))") }
    print("  database \(dbSize / 1024) KiB, WAL \(walSize / 1024) KiB at the end")
    print(String(format: "  decision-to-issue (to commit): p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 < 5 ms)",
                 Double(pct(0.5)) / 1000, Double(pct(0.99)) / 1000, Double(latencies.last ?? 0) / 1000))
}

/// The authority both workflow benches start from: a fresh data directory at a fixed clock, one
/// EdDSA approver per department and one registered firm, whose application is the template.
enum BenchAuthority {
    /// The first authority's code, which `permit init` makes.
    static let firstCode = "330114"
    /// The authority an `added` run serves: one `authority add` made after the first.
    static let addedCode = "330106"

    /// `database`: a `postgres://` URL for the store instead of the directory's SQLite file.
    /// `added`: the parties are registered with a second authority added to the deployment
    /// (`Deployment.addAuthority`: its own SQLite file, or its own schema of the database), and
    /// the workflow returned is that authority's; without it, the first authority's.
    static func make(in dir: DataDirectory, database: String? = nil, added: Bool = false) async throws
        -> (workflow: Workflow, approvers: [Department: PrivateKey], firm: PrivateKey, template: Application, clock: FixedClock) {
        let clock = FixedClock(RFC3339.date("2026-11-30T09:00:00+08:00")!)
        _ = try await Workflow.initialise(directory: dir, authority: firstCode, name: "杭州市钱塘区交通运输局", nameEn: "Qiantang District Transport Bureau",
                                          phone: "0571-86000000", maxDays: 30, clock: clock, database: database)
        if added {
            _ = try await Deployment.addAuthority(directory: dir, authority: addedCode, name: "杭州市西湖区交通运输局", nameEn: "Xihu District Transport Bureau",
                                                  phone: "0571-87000000", maxDays: 30, clock: clock, database: database)
        }
        let workflow = try await Deployment.openAuthority(directory: dir, clock: clock, database: database, authority: added ? addedCode : firstCode)
        let admin = try PrivateKey.load(path: workflow.directory.adminKey.path)
        var approvers: [Department: PrivateKey] = [:]
        for d in Department.allCases {
            approvers[d] = .generate(.edDSA)
            _ = try await workflow.register(.approver, party: d.rawValue, name: d.nameZh, publicKey: approvers[d]!.publicKey, adminKey: admin)
        }
        let template = try JSONDecoder().decode(Application.self, from: Data(contentsOf: URL(fileURLWithPath: "Tests/Fixtures/typical-permit-application.json")))
        let firm = PrivateKey.generate(.edDSA)
        _ = try await workflow.register(.applicant, party: template.applicant.creditCode, name: template.applicant.name, publicKey: firm.publicKey, adminKey: admin)
        return (workflow, approvers, firm, template, clock)
    }
}
