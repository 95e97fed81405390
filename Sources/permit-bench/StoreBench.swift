import Foundation
import GRDB
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitTestSupport
import PermitWorkflow

/// `permit-bench store`: the cost of an empty write transaction and of a one-row insert
/// transaction in the same WAL configuration, as the floor under each workflow request. (Then
/// main runs `runPageBench`.)
func runStoreBench() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("permit-store-bench-\(UUID().uuidString).sqlite").path
    defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
    var config = Configuration()
    config.prepareDatabase { db in
        try db.execute(sql: "PRAGMA synchronous = NORMAL")
        try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
    }
    let pool = try DatabasePool(path: path, configuration: config)
    try pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)") }
    let blob = Data(repeating: 7, count: 600)
    let empty = Rate.measure(seconds: 0.3, rounds: 3) { _ in try! pool.write { _ in } }
    let insert = Rate.measure(seconds: 0.3, rounds: 3) { _ in try! pool.write { db in try db.cachedStatement(sql: "INSERT INTO t (payload) VALUES (?)").execute(arguments: [blob]) } }
    let read = Rate.measure(seconds: 0.3, rounds: 3) { _ in _ = try! pool.read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM t")) } }
    print(String(format: "store: empty write tx %.1f µs, one-insert tx %.1f µs, read tx %.1f µs", 1e6 / empty, 1e6 / insert, 1e6 / read))
}

/// The listings against a data directory holding 20,000 issued permits (PERMIT_BENCH_COUNT
/// overrides), each applied, approved by every required department and issued through the real
/// workflow with signed requests, plus a twentieth as many applications left pending so that a
/// queue and `state: pending` have rows. Each listing is timed as the median of several calls,
/// beside a raw `SELECT … ORDER BY id LIMIT 50` through GRDB on the same file.
func runPageBench() async throws {
    let count = Int(ProcessInfo.processInfo.environment["PERMIT_BENCH_COUNT"] ?? "") ?? 20_000
    let pendingCount = max(1, count / 20)
    let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-page-bench-\(UUID().uuidString)"))
    defer { try? FileManager.default.removeItem(at: dir.url) }
    let (workflow, approvers, firm, template, clock) = try await BenchAuthority.make(in: dir)
    // The same fleet as `permit-bench workflow`: every category in turn, over all ten departments.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    func fleet(_ range: Range<Int>) throws -> [ApplicationFileItem] {
        var jsonl = Data()
        for i in range {
            var a = template
            a.reference = "PAGE-\(i)"
            let digits = String(i)
            a.vehicle.plate = "浙A" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
            let category = CargoCategory.all[i % CargoCategory.all.count]
            let second = category.slug == "mail-and-parcels" ? "medical-supplies" : "mail-and-parcels"
            a.cargo.categories = i % 7 == 0 ? [category.slug, second] : [category.slug]
            jsonl += try encoder.encode(a) + Data("\n".utf8)
        }
        return ApplicationFile.parse(jsonl, format: .jsonl)
    }

    let buildStart = DispatchTime.now().uptimeNanoseconds
    var refused = 0
    refused += try await workflow.apply(fleet(0..<count), key: firm).filter { !$0.succeeded }.count
    var issued = 0
    for d in Department.allCases {
        let ids = try await workflow.queue(department: d, overdue: false).map(\.0.publicID)
        if ids.isEmpty { continue }
        issued += try await workflow.decide(department: d, key: approvers[d]!, identifiers: ids, decision: .approve).compactMap(\.issueMicros).count
    }
    refused += try await workflow.apply(fleet(count..<(count + pendingCount)), key: firm).filter { !$0.succeeded }.count
    let buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - buildStart) / 1e9
    let dbSize = (try? FileManager.default.attributesOfItem(atPath: dir.database.path)[.size] as? Int) ?? 0
    print(String(format: "pages: %d issued permits and %d pending applications (%d refused), built through the signed workflow in %.1f s; database %d KiB",
                 issued, pendingCount, refused, buildSeconds, dbSize / 1024))

    // The reference: the same file through GRDB, no workflow.
    var readOnly = Configuration()
    readOnly.readonly = true
    let raw = try DatabaseQueue(path: dir.database.path, configuration: readOnly)
    let (deepAfter, middle, busiest) = try await raw.read { db in
        (try Int64.fetchOne(db, sql: "SELECT id FROM application ORDER BY id LIMIT 1 OFFSET ?", arguments: [max(0, count - 51)])!,
         try Int64.fetchOne(db, sql: "SELECT id FROM application ORDER BY id LIMIT 1 OFFSET ?", arguments: [count / 2])!,
         try String.fetchOne(db, sql: "SELECT department FROM requiredDepartment WHERE state = 'pending' GROUP BY department ORDER BY count(*) DESC, department LIMIT 1")!)
    }
    let middleID = try await workflow.applications(ApplicationQuery(limit: 1, after: PageCursor.make(after: middle - 1))).items[0].publicID
    let department = Department(rawValue: busiest)!

    /// The median and the slowest of `runs` calls, in milliseconds, after two untimed calls; and
    /// how many rows the last call gave.
    func timed(_ runs: Int = 21, _ body: () async throws -> Int) async throws -> (median: Double, max: Double, rows: Int) {
        for _ in 0..<2 { _ = try await body() }
        var ms: [Double] = []
        var rows = 0
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            rows = try await body()
            ms.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        ms.sort()
        return (ms[runs / 2], ms[runs - 1], rows)
    }
    func line(_ label: String, _ t: (median: Double, max: Double, rows: Int)) {
        print(String(format: "  %@ %7.2f ms median, %7.2f ms slowest (%d rows)", label.padding(toLength: 44, withPad: " ", startingAt: 0), t.median, t.max, t.rows))
    }
    let reference = try await timed { try await raw.read { db in try Row.fetchAll(db, sql: "SELECT * FROM application ORDER BY id LIMIT 50").count } }
    line("raw SQLite SELECT * … ORDER BY id LIMIT 50", reference)
    line("applications() first page", try await timed { try await workflow.applications(ApplicationQuery()).items.count })
    line("applications(state: pending) first page", try await timed { try await workflow.applications(ApplicationQuery(state: .pending)).items.count })
    line("applications(state: issued) first page", try await timed { try await workflow.applications(ApplicationQuery(state: .issued)).items.count })
    line("applications() after row \(deepAfter)", try await timed { try await workflow.applications(ApplicationQuery(after: PageCursor.make(after: deepAfter))).items.count })
    line("applications(state: active) first page", try await timed { try await workflow.applications(ApplicationQuery(state: .active)).items.count })
    // No permit has expired at the bench's clock: the clock-narrowed listing reads every issued row.
    line("applications(state: expired), none match", try await timed(5) { try await workflow.applications(ApplicationQuery(state: .expired)).items.count })
    // Past every permit's validity, `state: active` reads every issued row to find none.
    clock.set(RFC3339.date("2026-12-16T09:00:00+08:00")!)
    line("applications(state: active), all expired", try await timed(5) { try await workflow.applications(ApplicationQuery(state: .active)).items.count })
    clock.set(RFC3339.date("2026-11-30T09:00:00+08:00")!)
    line("queue(\(department.rawValue)) first page", try await timed { try await workflow.queue(QueueQuery(department: department)).items.count })
    line("history(\(middleID)): decisions + audit events", try await timed { let h = try await workflow.history(middleID); return h.decisions.count + h.events.count })
}
