import Foundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitTestSupport
import PermitWorkflow

/// `permit-bench copy`: `permit db copy` of a data directory holding 20,000 issued permits
/// (PERMIT_BENCH_COUNT overrides), each applied, approved and issued through the signed
/// workflow, from SQLite into an empty PostgreSQL database of a throwaway cluster (the tests'
/// `TestPostgres`), and back into a new SQLite file. Prints the rows, the time of the copy
/// (reading the source, the target's transaction with its read-back) apart from the two audits
/// it runs, and the process's peak resident memory (the copy holds the source in memory).
func runCopyBench() async throws {
    let count = Int(ProcessInfo.processInfo.environment["PERMIT_BENCH_COUNT"] ?? "") ?? 20_000
    let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-copy-bench-\(UUID().uuidString)"))
    defer { try? FileManager.default.removeItem(at: dir.url) }
    let (workflow, approvers, firm, template, clock) = try await BenchAuthority.make(in: dir)
    var jsonl = Data()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    for i in 0..<count {
        var a = template
        a.reference = "COPY-\(i)"
        let digits = String(i)
        a.vehicle.plate = "浙A" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        a.cargo.categories = ["medical-supplies"]
        jsonl += try encoder.encode(a) + Data("\n".utf8)
    }
    let buildStart = DispatchTime.now().uptimeNanoseconds
    _ = try await workflow.apply(ApplicationFile.parse(jsonl, format: .jsonl), key: firm)
    var issued = 0
    for d in Department.allCases {
        let ids = try await workflow.queue(department: d, overdue: false).map(\.0.publicID)
        if ids.isEmpty { continue }
        issued += try await workflow.decide(department: d, key: approvers[d]!, identifiers: ids, decision: .approve).compactMap(\.issueMicros).count
    }
    let buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - buildStart) / 1e9
    let size = (try? FileManager.default.attributesOfItem(atPath: dir.database.path)[.size] as? Int) ?? 0
    print(String(format: "copy: %d permits issued through the signed workflow in %.1f s; permit.sqlite %d KiB; peak RSS %d MiB before copying",
                 issued, buildSeconds, size / 1024, peakResidentMiB()))

    let url = try TestPostgres.shared().createDatabase()
    let there = try await Workflow.copyDatabase(from: "sqlite:" + dir.database.path, to: url, directory: dir, clock: clock, allowUnverified: false)
    report("SQLite → PostgreSQL", there)
    let back = dir.url.appendingPathComponent("back.sqlite").path
    let home = try await Workflow.copyDatabase(from: url, to: "sqlite:" + back, directory: dir, clock: clock, allowUnverified: false)
    report("PostgreSQL → SQLite", home)
}

private func report(_ label: String, _ r: DatabaseCopyResult) {
    print(String(format: "copy: %@: %d rows (%@) in %.2f s (read %.2f s, write and read back %.2f s); audits of source and target %.1f s; source %@, target %@; peak RSS %d MiB",
                 label, r.rows, r.tables.filter { $0.rows > 1 }.map { "\($0.table) \($0.rows)" }.joined(separator: ", "),
                 r.seconds, r.readSeconds, r.writeSeconds, r.auditSeconds, r.sourceAudit.ok ? "OK" : "FAILED", r.targetAudit.ok ? "OK" : "FAILED",
                 peakResidentMiB()))
}

/// VmHWM from /proc/self/status, in MiB.
private func peakResidentMiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
    return kib / 1024
}
