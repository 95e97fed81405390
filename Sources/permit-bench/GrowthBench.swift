import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitTestSupport
import PermitWorkflow

/// `scripts/bench store --postgres` (or `--database URL`, or `scripts/bench growth …`): how the
/// workflow's operations grow with the data. One deployment of 20 authorities
/// (`PERMIT_BENCH_AUTHORITIES`) on one PostgreSQL database, a schema each, filled through the
/// signed workflow in process (no HTTP) to each total of `PERMIT_BENCH_SIZES` (default
/// 2000,20000,200000) issued permits, spread evenly over the authorities and filled in parallel
/// tasks, one an authority (the per-authority lock serialises only each authority's own writes).
/// At each size, on the first authority: the median of 21 calls (after 2 untimed) of apply one
/// application, approve one (the decision that issues), an approver's queue first page,
/// the applications' first page, show one (`history`), the revocation-list export; the median
/// of 5 of `report --since` the day of the timed calls and of `report` over all time; then one
/// full `audit verify` (its rate) and the median of 5 `audit verify --since-checkpoint` from a
/// checkpoint taken just before the timed calls. A table of sizes × operations follows, with
/// each operation's ratio at the largest size to the smallest (flat ≈ 1).
///
/// The clock moves to 09:00 of the next day after each fill, so that the timed calls are on a
/// day of their own: what `report --since` that day reads (the measured authority's 60 pending
/// and 23 applied that day) is the same at every size, and an index on `submittedAt` keeps it
/// flat. Each application asks for a validity starting the day after it is filed.
func runGrowthBench(postgres: PostgresBenchDatabase) async throws {
    let environment = ProcessInfo.processInfo.environment
    let sizes = (environment["PERMIT_BENCH_SIZES"] ?? "2000,20000,200000").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let authorityCount = max(1, min(allCodes.count, Int(environment["PERMIT_BENCH_AUTHORITIES"] ?? "") ?? 20))
    guard !sizes.isEmpty, sizes == sizes.sorted() else { throw BenchFailure("PERMIT_BENCH_SIZES: increasing totals, e.g. 2000,20000,200000") }
    let database = try postgres.createDatabase()
    defer { postgres.dropDatabase(database) }
    let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-growth-bench-\(UUID().uuidString)"))
    defer { try? FileManager.default.removeItem(at: dir.url) }
    print("growth bench: \(authorityCount) authorities in one deployment on one PostgreSQL database (a schema each), in process, "
          + "sizes \(sizes.map(String.init).joined(separator: ", ")) issued permits in all; \(ProcessInfo.processInfo.activeProcessorCount) cores shared with PostgreSQL")
    print("  PostgreSQL: \(postgres.description); \(try postgres.durability(database))")
    print("  the clock moves to the next day after each fill: report is timed since the timed calls' day (what an index keeps flat), "
          + "and over all time; (n) after a time is the rows or applications it returned")

    let (first, approvers, firm, template, clock) = try await BenchAuthority.make(in: dir, database: database)
    let codes = Array(allCodes.filter { $0 != first.authority.code }.prefix(authorityCount - 1))
    for code in codes {
        _ = try await Deployment.addAuthority(directory: dir, authority: code, name: "交通运输局 \(code)", nameEn: nil, phone: "0571-86000000",
                                              maxDays: 30, clock: clock, database: database)
    }
    let deployment = try await Deployment.open(first: first)
    for w in deployment.workflows.dropFirst() {
        let admin = try PrivateKey.load(path: w.directory.adminKey.path)
        for d in Department.allCases {
            _ = try await w.register(.approver, party: d.rawValue, name: d.nameZh, publicKey: approvers[d]!.publicKey, adminKey: admin)
        }
        _ = try await w.register(.applicant, party: template.applicant.creditCode, name: template.applicant.name, publicKey: firm.publicKey, adminKey: admin)
    }
    let members = deployment.workflows
    let measured = members[0]
    let admin = try PrivateKey.load(path: measured.directory.adminKey.path)

    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    /// Applications `range` of one authority: unique references and plates, every category in turn.
    @Sendable func fleet(_ code: String, _ range: Range<Int>) throws -> [ApplicationFileItem] {
        var jsonl = Data()
        let from = CalendarDay.inChina(at: clock.now()).adding(days: 1)
        for i in range {
            var a = template
            a.validity = .init(from: from.description, to: from.adding(days: 14).description)
            a.reference = "G-\(code)-\(i)"
            // The fill's plates below 50000, the timed and pending ones' above: a plate applied for again would supersede.
            let digits = String(i >= 1_000_000 ? 50_000 + (i - 1_000_000) % 50_000 : i % 50_000)
            a.vehicle.plate = "浙A" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
            let category = CargoCategory.all[i % CargoCategory.all.count]
            let second = category.slug == "mail-and-parcels" ? "medical-supplies" : "mail-and-parcels"
            a.cargo.categories = i % 7 == 0 ? [category.slug, second] : [category.slug]
            jsonl += try encoder.encode(a) + Data("\n".utf8)
        }
        return ApplicationFile.parse(jsonl, format: .jsonl)
    }

    /// Each authority's next application index and issued count.
    final class Fill: @unchecked Sendable {
        var next: [Int]
        var issued: [Int]
        init(_ n: Int) { next = Array(repeating: 0, count: n); issued = Array(repeating: 0, count: n) }
    }
    let fill = Fill(members.count)
    /// Applies and approves until authority `k` holds `target` permits; (issued, refused) added.
    @Sendable func fillAuthority(_ k: Int, to target: Int) async throws -> (Int, Int) {
        let w = members[k]
        var issuedHere = 0, refused = 0
        var next = fill.next[k], issued = fill.issued[k]
        while issued < target {
            let n = min(250, target - issued)
            let results = try await w.apply(fleet(w.authority.code, next..<(next + n)), key: firm)
            next += n
            refused += results.filter { !$0.succeeded }.count
            for d in Department.allCases {
                let ids = try await w.queue(department: d, overdue: false).map(\.0.publicID)
                if ids.isEmpty { continue }
                let done = try await w.decide(department: d, key: approvers[d]!, identifiers: ids, decision: .approve).compactMap(\.issueMicros).count
                issued += done
                issuedHere += done
            }
            if results.allSatisfy({ !$0.succeeded }) { throw BenchFailure("authority \(w.authority.code): every application refused: \(results.first?.errors ?? [])") }
        }
        fill.next[k] = next
        fill.issued[k] = issued
        return (issuedHere, refused)
    }

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
        print(String(format: "    %@ %9.2f ms median, %9.2f ms slowest (%d)", label.padding(toLength: 40, withPad: " ", startingAt: 0), t.median, t.max, t.rows))
    }

    let operations = ["apply one", "approve one (issues)", "queue first page", "list first page", "show one (history)",
                      "report --since the day", "report (all time)", "revocation-list export", "audit verify (full), ms",
                      "audit verify --since-checkpoint"]
    var table: [[Double]] = []
    var rates: [String] = []
    var revoked = false
    var extra = 1_000_000   // indices of the timed and pending applications, apart from the fill's
    for size in sizes {
        let per = (size + members.count - 1) / members.count
        let start = DispatchTime.now().uptimeNanoseconds
        let before = fill.issued.reduce(0, +)
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for k in members.indices { group.addTask { try await fillAuthority(k, to: per) } }
            var total = (0, 0)
            for try await r in group { total = (total.0 + r.0, total.1 + r.1) }
            return total
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let total = fill.issued.reduce(0, +)
        let rate = Double(total - before) / seconds
        rates.append(String(format: "%d → %d: %.1f s, %.0f permits/s", before, total, seconds, rate))
        print(String(format: "  size %d: %d permits in all (%d each), filled %d in %.1f s (%.0f permits/s; %d refused); load average %@",
                     size, total, per, results.0, seconds, rate, results.1, loadAverage()))
        // The timed calls on a day of their own: 09:00 (China time) of the day after the fill's.
        let day = CalendarDay.inChina(at: clock.now()).adding(days: 1)
        clock.set(Date(timeIntervalSince1970: TimeInterval(day.startInChina + 9 * 3600)))

        // The measured authority: 60 pending for its queue, 20 revoked permits (once), a checkpoint.
        let pending = try await measured.apply(fleet(measured.authority.code, extra..<(extra + 60)), key: firm)
        extra += 60
        if pending.contains(where: { !$0.succeeded }) { throw BenchFailure("pending applications refused: \(pending.compactMap(\.errors).first ?? [])") }
        if !revoked {
            let issued = try await measured.applications(ApplicationQuery(state: .issued, limit: 20)).items
            for app in issued { _ = try await measured.revoke(number: app.permitNumber!, reason: "bench", adminKey: admin) }
            revoked = true
        }
        var busiest = Department.allCases[0], most = -1
        for d in Department.allCases {
            let n = try await measured.queue(department: d, overdue: false).count
            if n > most { (busiest, most) = (d, n) }
        }
        let half = fill.issued[0] / 2
        let middleID = try await measured.applications(ApplicationQuery(limit: 1, after: PageCursor.make(after: Int64(max(1, half))))).items[0].publicID
        _ = try await measured.auditCheckpoint()

        // apply one, keeping each application's departments for its approvals.
        var applied: [(id: String, departments: [Department])] = []
        let apply = try await timed {
            let r = try await measured.apply(fleet(measured.authority.code, extra..<(extra + 1)), key: firm)
            extra += 1
            guard let id = r.first?.id else { throw BenchFailure("apply refused: \(r.first?.errors ?? [])") }
            applied.append((id, (r.first?.departments ?? []).compactMap(Department.init(rawValue:))))
            return 1
        }
        // Every department but the last approves, untimed; the last one's approval issues, timed.
        for a in applied {
            for d in a.departments.dropLast() { _ = try await measured.decide(department: d, key: approvers[d]!, identifiers: [a.id], decision: .approve) }
        }
        var issuing = applied.makeIterator()
        let approve = try await timed {
            let a = issuing.next()!
            guard let d = a.departments.last else { throw BenchFailure("\(a.id) needs no department") }
            let r = try await measured.decide(department: d, key: approvers[d]!, identifiers: [a.id], decision: .approve)
            guard r.first?.issueMicros != nil else { throw BenchFailure("the last approval of \(a.id) did not issue: \(r)") }
            return 1
        }
        let queue = try await timed { try await measured.queue(QueueQuery(department: busiest)).items.count }
        let list = try await timed { try await measured.applications(ApplicationQuery()).items.count }
        let show = try await timed { let h = try await measured.history(middleID); return h.decisions.count + h.events.count }
        let report = try await timed(5) { try await measured.report(since: day).applications }
        let reportAll = try await timed(5) { try await measured.report(since: nil).applications }
        let revocations = try await timed { try await measured.signRevocations().document.revoked.count }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let full = try await measured.verifyAudit()
        let fullMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        if !full.ok { throw BenchFailure("audit verify failed: \(full.findings.prefix(3))") }
        var sinceEvents = 0
        let since = try await timed(5) {
            let v = try await measured.verifyAuditSinceCheckpoint()
            if !v.ok { throw BenchFailure("audit verify --since-checkpoint failed: \(v.findings.prefix(3))") }
            sinceEvents = v.sinceCheckpoint?.eventsVerified ?? 0
            return sinceEvents
        }
        print("  authority \(measured.authority.code) at size \(size): \(fill.issued[0]) filled permits, queue \(busiest.rawValue) holds \(most)")
        line("apply one", apply)
        line("approve one (the decision that issues)", approve)
        line("queue(\(busiest.rawValue)) first page", queue)
        line("applications() first page", list)
        line("history(\(middleID))", show)
        line("report(since: \(day)), 5 runs", report)
        line("report(since: nil), 5 runs", reportAll)
        line("revocation-list export (signed)", revocations)
        print(String(format: "    audit verify (full)                      %9.2f ms for %d events: %.0f events/s (%d applications, %d decisions, %d permits)",
                     fullMs, full.events, Double(full.events) / (fullMs / 1e3), full.applications, full.decisions, full.permits))
        line("audit verify --since-checkpoint, 5 runs", since)
        table.append([apply.median, approve.median, queue.median, list.median, show.median, report.median, reportAll.median, revocations.median,
                      fullMs, since.median])
    }

    print("  median ms, authority \(measured.authority.code) of \(members.count); sizes are issued permits over all authorities")
    print("  operation | " + sizes.map { "\($0)" }.joined(separator: " | ") + " | largest / smallest")
    for (i, op) in operations.enumerated() {
        let cells = table.map { String(format: "%.2f", $0[i]) }
        let ratio = table.count > 1 ? String(format: "%.2f", table.last![i] / table.first![i]) : "-"
        print("  \(op) | " + cells.joined(separator: " | ") + " | \(ratio)")
    }
    print("  fill: " + rates.joined(separator: "; "))
}

/// Division codes (GB/T 2260, Zhejiang) for the bench's authorities: 330114 first, as `BenchAuthority` makes it.
private let allCodes = ["330114", "330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112", "330113", "330122",
                        "330127", "330182", "330203", "330205", "330206", "330211", "330212", "330213", "330225", "330226", "330281"]
