import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore



extension Workflow {
    /// The value at percentile `p` (nearest rank) of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    /// What `/metrics` reads at every scrape (`PermitService.liveCounts`): two counts by the store.
    public func liveCounts() async throws -> LiveCounts {
        let (permits, pending) = try await store.read { try $0.liveCounts() }
        return LiveCounts(permitsIssued: permits, pending: Department.allCases.map { .init(department: $0.rawValue, count: pending[$0.rawValue] ?? 0) })
    }

    /// The report over applications submitted on or after `since` (a day in China time). The
    /// store reads only those applications and their required departments, decisions and
    /// permits (through an index on `submittedAt`), so a report since a recent day costs what
    /// its rows cost, however large the store.
    public func report(since: CalendarDay?) async throws -> ActivityReport {
        let now = clock.now()
        let start = since.map { Date(timeIntervalSince1970: TimeInterval($0.startInChina)) }
        return try await store.read { r in
            let apps = try r.applications(ApplicationFilter(submittedSince: start))
            let byID = Dictionary(apps.map { ($0.id!, $0) }, uniquingKeysWith: { a, _ in a })
            var rows: [String: DepartmentReport] = [:]
            var times: [String: [Double]] = [:]
            for d in Department.allCases {
                rows[d.rawValue] = DepartmentReport(department: d.rawValue, received: 0, approved: 0, rejected: 0, pending: 0, overdue: 0,
                                                    closedUndecided: 0)
            }
            // An approval carried over by an amendment was not reviewed again: it is not counted.
            let carried = Set(try r.allDecisions(submittedSince: start).filter { $0.carriedFrom != nil }.map { "\($0.applicationID) \($0.department)" })
            for slot in try r.allRequiredDepartments(submittedSince: start) where !carried.contains("\(slot.applicationID) \(slot.department)") {
                guard let app = byID[slot.applicationID], var row = rows[slot.department] else { continue }
                row.received += 1
                switch slot.state {
                case .approved: row.approved += 1
                case .rejected: row.rejected += 1
                case .pending:
                    if app.state == .pending {
                        row.pending += 1
                        if slot.dueAt < now { row.overdue += 1 }
                    } else {
                        row.closedUndecided += 1
                    }
                }
                if let decided = slot.decidedAt { times[slot.department, default: []].append(decided.timeIntervalSince(app.submittedAt)) }
                rows[slot.department] = row
            }
            for (d, t) in times {
                let sorted = t.sorted()
                rows[d]?.medianDecisionSeconds = Workflow.percentile(sorted, 50)
                rows[d]?.p90DecisionSeconds = Workflow.percentile(sorted, 90)
            }
            var waits: [Double] = []
            for permit in try r.permits(limit: nil, submittedSince: start) {
                if let app = byID[permit.applicationID] { waits.append(permit.issuedAt.timeIntervalSince(app.submittedAt)) }
            }
            waits.sort()
            let bounds: [(String, Double?)] = [("< 1 min", 60), ("1–5 min", 300), ("5–20 min", 1200), ("20–60 min", 3600),
                                                ("1–4 h", 4 * 3600), ("4–24 h", 86_400), ("≥ 1 day", nil)]
            var buckets: [ActivityReport.Bucket] = []
            var lower = -Double.infinity
            for (label, upper) in bounds {
                let count = waits.filter { $0 >= lower && (upper == nil || $0 < upper!) }.count
                buckets.append(.init(label: label, upToSeconds: upper, count: count))
                lower = upper ?? lower
            }
            return ActivityReport(since: since?.description, generatedAt: RFC3339.string(now), applications: apps.count, permits: waits.count,
                                  departments: Department.allCases.compactMap { rows[$0.rawValue] },
                                  medianApplicationToPermitSeconds: Workflow.percentile(waits, 50), p90ApplicationToPermitSeconds: Workflow.percentile(waits, 90),
                                  applicationToPermit: buckets)
        }
    }
}
