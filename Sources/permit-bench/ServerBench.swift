import Foundation
import GRDB
import PermitAPI
import PermitClient
import PermitFoundation
import PermitModel
import PermitSeal
import PermitStore
import PermitStorePostgres
import PermitTestSupport
import PermitWorkflow

/// `scripts/bench server`: firms and departments as concurrent clients of a release
/// `permit-server` over loopback, 16 and then 64 of them, each a task of this process with its own
/// `HTTPPermitService` and `PartySigner`, signing its submissions, decisions and every request on
/// the client. The firms apply in small batches (1–10 applications a request); each department's
/// approver reads its queue and approves it, so that every application is issued. As the
/// reference, the same clients drive the workflow in this process (`LocalPermitService` on a
/// SQLite store of its own) with the same work; raw Ed25519 signing is the second reference.
/// Every run ends with the store opened and checked: every accepted application issued exactly
/// once, the serials gap-free.
///
/// PERMIT_BENCH_COUNT: applications per run (default 10,000); PERMIT_BENCH_CLIENTS: the client
/// counts (default "16,64"); PERMIT_BENCH_SECONDS: the most one run may take (default 60);
/// PERMIT_BENCH_SERVER: the permit-server to run (default: the one beside permit-bench).
/// `--postgres` or `--database URL`: SQLite against PostgreSQL (ServerPostgresBench.swift).
func runServerBench() async throws {
    setvbuf(stdout, nil, _IOLBF, 0)  // each run's lines as it ends, also into a pipe
    let environment = ProcessInfo.processInfo.environment
    let count = Int(environment["PERMIT_BENCH_COUNT"] ?? "") ?? 10_000
    let clientCounts = (environment["PERMIT_BENCH_CLIENTS"] ?? "16,64").split(separator: ",").compactMap { Int($0) }.filter { $0 > Department.allCases.count }
    let seconds = Double(environment["PERMIT_BENCH_SECONDS"] ?? "") ?? 60
    // PERMIT_BENCH_SERVER: another build's permit-server, for a before/after.
    let server = environment["PERMIT_BENCH_SERVER"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("permit-server")
    guard FileManager.default.isExecutableFile(atPath: server.path) else {
        throw BenchFailure("no permit-server beside permit-bench (\(server.lastPathComponent)): swift build -c release --product permit-server")
    }

    if let postgres = try PostgresBenchDatabase.fromArguments(environment: environment) {
        try await runServerPostgresBench(server: server, postgres: postgres, clientCounts: clientCounts, count: count, seconds: seconds)
        return
    }

    let key = PrivateKey.generate(.edDSA)
    let message = Array(repeating: UInt8(0x61), count: 300)
    let rawSign = Rate.measure { _ in _ = key.sign(message) }
    print("server bench: \(count) applications a run from firms in batches of 1–10, approved by the ten departments' approvers; SQLite WAL, loopback HTTP, \(ProcessInfo.processInfo.activeProcessorCount) cores")
    print(String(format: "  raw Ed25519 signing in this run: %.0f/s", rawSign))
    var rows: [(clients: Int, local: ServerBenchRun, remote: ServerBenchRun)] = []
    for clients in clientCounts {
        let local = try await ServerBenchRun.inProcess(clients: clients, count: count, seconds: seconds)
        local.print()
        let remote = try await ServerBenchRun.overHTTP(server: server, clients: clients, count: count, seconds: seconds)
        remote.print()
        print(String(format: "  %d clients: server / in-process %.3f; server %.4f × raw signing, in-process %.4f ×",
                     clients, remote.permitsPerSecond / local.permitsPerSecond, remote.permitsPerSecond / rawSign, local.permitsPerSecond / rawSign))
        rows.append((clients, local, remote))
    }
    print("  clients | in-process permits/s | server permits/s | ratio | server requests | request p50 / p99 ms (server) | (in-process) | decision-to-issue p99 ms (server) | (in-process)")
    for r in rows {
        print(String(format: "  %7d | %20.0f | %16.0f | %5.3f | %15d | %13.2f / %-13.2f | %.2f / %.2f | %33.2f | %.2f", r.clients, r.local.permitsPerSecond, r.remote.permitsPerSecond,
                     r.remote.permitsPerSecond / r.local.permitsPerSecond, r.remote.requests, r.remote.percentile(0.5), r.remote.percentile(0.99),
                     r.local.percentile(0.5), r.local.percentile(0.99), r.remote.issuePercentile(0.99), r.local.issuePercentile(0.99)))
    }
    if rows.contains(where: { !$0.local.checked || !$0.remote.checked }) { throw BenchFailure("a run did not pass its check (above)") }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The parties of one run: a fresh authority with one approver per department (BenchAuthority)
/// and a firm per firm client, each registered with its own key.
struct ServerBenchParties {
    var approvers: [Department: PrivateKey]
    var firms: [(key: PrivateKey, template: Application)]
    var clock: FixedClock

    static func make(in dir: DataDirectory, firms firmCount: Int, database: String? = nil, added: Bool = false) async throws -> (Workflow, ServerBenchParties) {
        let (workflow, approvers, firm, template, clock) = try await BenchAuthority.make(in: dir, database: database, added: added)
        let admin = try PrivateKey.load(path: workflow.directory.adminKey.path)
        var firms = [(firm, template)]
        for n in 1..<max(1, firmCount) {
            var a = template
            let first17 = "91330100MA" + String(format: "%07d", 1000 + n)
            a.applicant.creditCode = first17 + String(CreditCode.checkCharacter(first17)!)
            a.applicant.name = "杭州钱塘第\(n)物流有限公司"
            let key = PrivateKey.generate(.edDSA)
            _ = try await workflow.register(.applicant, party: a.applicant.creditCode, name: a.applicant.name, publicKey: key.publicKey, adminKey: admin)
            firms.append((key, a))
        }
        return (workflow, ServerBenchParties(approvers: approvers, firms: firms, clock: clock))
    }
}

/// What one run (in process or over HTTP) measured, and its check.
struct ServerBenchRun {
    var label: String
    var clients: Int
    var firmClients: Int
    var seconds: Double
    var issued: Int
    var accepted: Int
    var refused: [String: Int]
    var latencies: [String: [UInt64]]
    var issueMicros: [Int64]
    var stoppedAtDeadline: Bool
    var checked = false
    var check = ""
    /// The store's durability settings as the run found them.
    var durability = ""
    /// Over PostgreSQL: what the servers' write transactions did with the advisory lock.
    var lock: LockTraceSummary?
    var instances = 1
    /// CPU seconds of this process and, over HTTP, of the server process.
    var benchCPU: Double
    var serverCPU: Double?
    var clientSigning: Double
    /// The whole machine's busy CPU seconds (every process, the kernel's work included) over
    /// the run, from /proc/stat: what the bench, the servers and PostgreSQL share.
    var machineCPU: Double?

    var permitsPerSecond: Double { Double(issued) / seconds }
    var requests: Int { latencies.values.reduce(0) { $0 + $1.count } }

    /// The request latency at `p` over every request, in milliseconds.
    func percentile(_ p: Double, _ kind: String? = nil) -> Double {
        let all = (kind.map { latencies[$0] ?? [] } ?? latencies.values.flatMap { $0 }).sorted()
        guard !all.isEmpty else { return 0 }
        return Double(all[min(all.count - 1, Int(Double(all.count) * p))]) / 1e6
    }

    /// Decision-to-issue at `p` over every issued permit, in milliseconds.
    func issuePercentile(_ p: Double) -> Double {
        let all = issueMicros.sorted()
        guard !all.isEmpty else { return 0 }
        return Double(all[min(all.count - 1, Int(Double(all.count) * p))]) / 1e3
    }

    func print() {
        Swift.print(String(format: "  %@, %d clients (%d firms, 10 approvers): %d accepted, %d permits in %.2f s, %.0f permits/s%@",
                           label, clients, firmClients, accepted, issued, seconds, permitsPerSecond, stoppedAtDeadline ? " (STOPPED AT THE TIME LIMIT)" : ""))
        let kinds = latencies.keys.sorted().map { k in
            String(format: "%@ %d (p50 %.2f, p99 %.2f ms)", k, latencies[k]!.count, percentile(0.5, k), percentile(0.99, k))
        }
        Swift.print(String(format: "    %d requests, p50 %.2f ms, p99 %.2f ms: %@", requests, percentile(0.5), percentile(0.99), kinds.joined(separator: ", ")))
        Swift.print(String(format: "    decision-to-issue (the completing decision in the workflow to the permit's commit): p50 %.2f ms, p99 %.2f ms, max %.2f ms; the decide requests that carried them p99 %.2f ms",
                           issuePercentile(0.5), issuePercentile(0.99), issuePercentile(1), percentile(0.99, "decide")))
        var cpu = String(format: "    CPU: this process %.2f s", benchCPU)
        if let serverCPU { cpu += String(format: ", the server %.2f s (%.2f ms a permit)", serverCPU, 1000 * serverCPU / Double(max(issued, 1))) }
        cpu += String(format: "; clients signing submissions and decisions %.2f s", clientSigning)
        Swift.print(cpu)
        if let machineCPU {
            // Whatever neither this process nor the servers spent: PostgreSQL's, on a PostgreSQL run.
            let rest = max(0, machineCPU - benchCPU - (serverCPU ?? 0))
            let perPermit = { (seconds: Double) in 1000 * seconds / Double(max(self.issued, 1)) }
            Swift.print(String(format: "    machine: %.2f of %d cores busy; %.2f ms of CPU a permit: the server %.2f, this process %.2f, the rest (PostgreSQL on a PostgreSQL run; the kernel and other processes) %.2f",
                               machineCPU / seconds, ProcessInfo.processInfo.activeProcessorCount, perPermit(machineCPU),
                               perPermit(serverCPU ?? 0), perPermit(benchCPU), perPermit(rest)))
        }
        if !refused.isEmpty { Swift.print("    refused: \(refused.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))") }
        if let lock { lock.print() }
        Swift.print("    store: \(durability)")
        Swift.print("    check: \(check)")
    }

    /// The reference: the same clients on the workflow in this process.
    static func inProcess(clients: Int, count: Int, seconds: Double) async throws -> ServerBenchRun {
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-server-bench-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let firmClients = clients - Department.allCases.count
        let (workflow, parties) = try await ServerBenchParties.make(in: dir, firms: firmClients)
        let service = LocalPermitService(workflow: workflow)
        let cpu0 = processCPUSeconds()
        var run = try await ServerBenchDriver(parties: parties, firmClients: firmClients, count: count, seconds: seconds)
            .run(label: "in process") { _, _ in service }
        run.benchCPU = processCPUSeconds() - cpu0
        try run.verify(database: dir.database.path)
        return run
    }

    /// The same clients over HTTP, each with its own `HTTPPermitService`, against a release
    /// `permit-server` on a loopback port, on a data directory made for the run. With
    /// `postgres`, the store is a database made for the run on that server, shared by
    /// `instances` servers (each on a port of its own, over the same data directory); the
    /// clients take the instances in turn (client n talks to instance n mod `instances`).
    /// With `added`, the clients apply to and approve for an authority added to the deployment
    /// after the first (`BenchAuthority.addedCode`): its own SQLite file, or its own schema.
    static func overHTTP(server: URL, clients: Int, count: Int, seconds: Double, postgres: PostgresBenchDatabase? = nil,
                         instances: Int = 1, added: Bool = false, label: String = "over HTTP") async throws -> ServerBenchRun {
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-server-bench-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let database = try postgres?.createDatabase()
        defer { if let postgres, let database { postgres.dropDatabase(database) } }
        let firmClients = clients - Department.allCases.count
        // The set-up's workflow is let go at once: from here on, only the servers open the database.
        let parties = try await ServerBenchParties.make(in: dir, firms: firmClients, database: database, added: added).1
        let code = added ? BenchAuthority.addedCode : BenchAuthority.firstCode
        var processes: [ServerChild] = []
        defer { for process in processes { process.stop() } }
        for n in 0..<instances {
            var environment: [String: String] = [:]
            if database != nil { environment["PERMIT_PG_LOCK_TRACE"] = dir.url.appendingPathComponent("lock-\(n).trace").path }
            processes.append(try ServerChild(executable: server, dataDir: dir, now: parties.clock.now(), database: database, index: n,
                                             environment: environment))
        }
        let driver = ServerBenchDriver(parties: parties, firmClients: firmClients, count: count, seconds: seconds)
        let cpu0 = processCPUSeconds()
        let machine0 = machineBusySeconds()
        let serverCPU0 = processes.map { $0.cpuSeconds() ?? 0 }
        let urls = processes.map(\.url)
        let started = LockTraceSummary.now()
        var run = try await driver.run(label: label) { n, signer in
            try await HTTPPermitService.connect(server: urls[n % urls.count], authority: code, signer: signer, timeout: 120)
        }
        let ended = LockTraceSummary.now()
        run.instances = instances
        run.benchCPU = processCPUSeconds() - cpu0
        run.serverCPU = zip(processes, serverCPU0).reduce(0) { $0 + (($1.0.cpuSeconds() ?? 0) - $1.1) }
        if let machine0, let machine1 = machineBusySeconds() { run.machineCPU = machine1 - machine0 }
        for process in processes {
            guard process.stop() == 0 else { throw BenchFailure("permit-server did not exit 0 on SIGTERM: \(process.stderrText)") }
        }
        if let postgres, let database {
            run.lock = LockTraceSummary(files: (0..<instances).map { dir.url.appendingPathComponent("lock-\($0).trace") }, from: started, to: ended)
            try run.verify(postgres: postgres, database: database, schema: added ? PostgresPermitStore.schemaName(authority: code) : nil)
        } else {
            try run.verify(database: (added ? dir.addedAuthority(code) : dir).database.path)
        }
        return run
    }

    /// Opens the run's store after it finished: every accepted application issued exactly once,
    /// as many permits as the clients saw issued, serials 1…n without a gap.
    mutating func verify(database path: String) throws {
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: path, configuration: config)
        let (numbers, journal) = try db.read { db in
            let row = try Row.fetchOne(db, sql: Self.checkSQL)
            return (row.map { r in (0..<r.count).map { (r[$0] as Int?) ?? 0 } } ?? [], try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?")
        }
        durability = "SQLite, journal_mode=\(journal) (read from the file), synchronous=\(SQLitePermitStore.synchronous) (SQLitePermitStore's PRAGMA on every connection): a commit does not fsync"
        check(numbers)
    }

    /// The same check on a PostgreSQL database, through psql; and the cluster's settings.
    /// `schema`: an added authority's (`PostgresPermitStore.schemaName`), whose tables the check reads.
    mutating func verify(postgres: PostgresBenchDatabase, database url: String, schema: String? = nil) throws {
        let path = schema.map { "SET search_path TO \"\($0)\"; " } ?? ""
        let numbers = try postgres.psql(url, path + Self.checkSQL).split(separator: "|").compactMap { Int($0) }
        let version = try postgres.psql(url, "SHOW server_version"), settings = try postgres.durability(url)
        durability = "PostgreSQL \(version), \(settings) (SHOWn by the server)"
        check(numbers)
    }

    /// One row: applications, issued applications, permits, distinct applications with a
    /// permit, the smallest and largest serial, distinct serials, the serial counter.
    static let checkSQL = """
        SELECT (SELECT count(*) FROM application), (SELECT count(*) FROM application WHERE state = 'issued' AND permitNumber IS NOT NULL),
               (SELECT count(*) FROM permit), (SELECT count(DISTINCT applicationID) FROM permit), (SELECT COALESCE(min(serial), 0) FROM permit),
               (SELECT COALESCE(max(serial), 0) FROM permit), (SELECT count(DISTINCT serial) FROM permit), COALESCE((SELECT last FROM serial), 0)
        """

    private mutating func check(_ numbers: [Int]) {
        guard numbers.count == 8 else {
            checked = false
            check = "FAILED: the check query answered \(numbers)"
            return
        }
        let (applications, issuedApplications, permits, distinctApplications, minSerial, maxSerial, distinctSerials, lastSerial) =
            (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5], numbers[6], numbers[7])
        var failures: [String] = []
        if applications != accepted { failures.append("\(applications) applications stored, \(accepted) accepted") }
        if !stoppedAtDeadline && issuedApplications != accepted { failures.append("\(issuedApplications) of \(accepted) accepted applications issued") }
        if permits != issued || distinctApplications != issued { failures.append("\(permits) permits for \(distinctApplications) applications stored, \(issued) issued to the clients") }
        if issuedApplications != permits { failures.append("\(issuedApplications) applications issued, \(permits) permits") }
        if permits > 0 && (minSerial != 1 || maxSerial != permits || distinctSerials != permits || lastSerial != permits) {
            failures.append("serials \(minSerial)…\(maxSerial), \(distinctSerials) distinct, last \(lastSerial), for \(permits) permits")
        }
        checked = failures.isEmpty
        check = checked ? "\(accepted) accepted, \(permits) issued, one permit each, serials 1…\(maxSerial) gap-free"
                        : "FAILED: " + failures.joined(separator: "; ")
    }
}

/// The clients of one run: firm clients applying their share of the work in batches of 1–10,
/// and one approver per department reading its queue (50 a page) and approving it, until the
/// firms are done and every queue is empty, or the time is up.
struct ServerBenchDriver {
    var parties: ServerBenchParties
    var firmClients: Int
    var count: Int
    var seconds: Double

    /// What every client records, under one lock.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        var latencies: [String: [UInt64]] = [:]
        var accepted = 0
        var issued = 0
        var refused: [String: Int] = [:]
        var signingNanos: UInt64 = 0
        /// Each issued permit's decision-to-issue time as the workflow measured it (issueMicros:
        /// from the completing decision's arrival in the workflow to the commit of the permit).
        var issueMicros: [Int64] = []
        var firmsDone = false

        func add(_ body: (Log) -> Void) {
            lock.lock()
            defer { lock.unlock() }
            body(self)
        }
        func record(_ kind: String, _ nanos: UInt64) { add { $0.latencies[kind, default: []].append(nanos) } }
        var done: Bool {
            var value = false
            add { value = $0.firmsDone }
            return value
        }
    }

    /// Runs the clients on the services `connect` gives each signer; returns the measurements.
    /// `connect` gets each client's number (the firms first, then the approvers) and signer.
    func run(label: String, connect: @Sendable (Int, PartySigner) async throws -> any PermitService) async throws -> ServerBenchRun {
        let log = Log()
        let clock = parties.clock
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        // The applications, made before the clock starts: every category in turn, over all ten
        // departments, a distinct plate each, as in `permit-bench workflow`.
        var shares: [[Application]] = Array(repeating: [], count: firmClients)
        for i in 0..<count {
            let client = i % firmClients
            var a = parties.firms[client].template
            a.reference = "SRV-\(i)"
            let digits = String(i)
            a.vehicle.plate = "浙A" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
            let category = CargoCategory.all[i % CargoCategory.all.count]
            let second = category.slug == "mail-and-parcels" ? "medical-supplies" : "mail-and-parcels"
            a.cargo.categories = i % 7 == 0 ? [category.slug, second] : [category.slug]
            shares[client].append(a)
        }
        var firmServices: [(any PermitService, PartySigner)] = []
        for n in 0..<firmClients {
            let signer = PartySigner(key: parties.firms[n].key, clock: clock)
            firmServices.append((try await connect(n, signer), signer))
        }
        var approverServices: [(Department, any PermitService, PartySigner)] = []
        for (n, d) in Department.allCases.enumerated() {
            let signer = PartySigner(key: parties.approvers[d]!, clock: clock)
            approverServices.append((d, try await connect(firmClients + n, signer), signer))
        }

        func timed<T>(_ kind: String, _ body: () async throws -> T) async rethrows -> T {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let value = try await body()
            log.record(kind, DispatchTime.now().uptimeNanoseconds - t0)
            return value
        }
        func signing<T>(_ body: () -> T) -> T {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let value = body()
            let nanos = DispatchTime.now().uptimeNanoseconds - t0
            log.add { $0.signingNanos += nanos }
            return value
        }
        func refusals(_ problems: [Problem]?) {
            guard let p = problems?.first else { return }
            log.add { $0.refused["\(p.code) \(p.field ?? "")", default: 0] += 1 }
        }

        let start = DispatchTime.now().uptimeNanoseconds
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { firms in
                    for (n, (service, signer)) in firmServices.enumerated() {
                        let share = shares[n]
                        firms.addTask {
                            var random = SplitMix(seed: UInt64(n + 1))
                            var next = 0
                            while next < share.count, DispatchTime.now().uptimeNanoseconds < deadline {
                                let batch = share[next..<min(share.count, next + 1 + random.next(upTo: 10))]
                                let items = batch.enumerated().map { i, a in
                                    ApplicationFileItem(index: i, line: nil, reference: a.reference, outcome: .application(a))
                                }
                                next += batch.count
                                let signed = signing { signer.submissions(items) }
                                let results = try await timed("apply") { try await service.apply(signed, dryRun: false, progress: nil) }
                                let accepted = results.filter { $0.succeeded && $0.duplicate != true }.count
                                log.add { $0.accepted += accepted }
                                for r in results { refusals(r.errors) }
                            }
                        }
                    }
                    try await firms.waitForAll()
                }
                log.add { $0.firmsDone = true }
            }
            for (department, service, signer) in approverServices {
                group.addTask {
                    while DispatchTime.now().uptimeNanoseconds < deadline {
                        // Read before the queue: once the firms are done, an empty queue stays empty.
                        let firmsDone = log.done
                        let page = try await timed("queue") { try await service.queue(QueueQuery(department: department, limit: 50)) }
                        if page.items.isEmpty {
                            if firmsDone { return }
                            try await Task.sleep(nanoseconds: 10_000_000)
                            continue
                        }
                        let targets = page.items.map { DecisionTarget(input: $0.application.publicID, id: $0.application.publicID, digest: $0.application.digest) }
                        let items = signing { signer.decisions(targets, department: department, approve: true) }
                        let results = try await timed("decide") { try await service.decide(department: department, items: items, progress: nil) }
                        let issueTimes = results.compactMap(\.issueMicros)
                        log.add { $0.issued += issueTimes.count; $0.issueMicros += issueTimes }
                        for r in results { refusals(r.errors) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return log.result(label: label, clients: firmClients + approverServices.count, firmClients: firmClients,
                        seconds: Double(end - start) / 1e9, stoppedAtDeadline: end >= deadline)
    }
}

extension ServerBenchDriver.Log {
    func result(label: String, clients: Int, firmClients: Int, seconds: Double, stoppedAtDeadline: Bool) -> ServerBenchRun {
        var result: ServerBenchRun!
        add { log in
            result = ServerBenchRun(label: label, clients: clients, firmClients: firmClients, seconds: seconds, issued: log.issued, accepted: log.accepted,
                                    refused: log.refused, latencies: log.latencies, issueMicros: log.issueMicros, stoppedAtDeadline: stoppedAtDeadline,
                                    benchCPU: 0, serverCPU: nil, clientSigning: Double(log.signingNanos) / 1e9)
        }
        return result
    }
}

/// The machine's busy CPU time since boot, every core, in seconds (/proc/stat: user, nice,
/// system, irq, softirq and steal); nil where there is no /proc/stat.
func machineBusySeconds() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = text.split(separator: "\n").first,
          line.hasPrefix("cpu ") else { return nil }
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard fields.count >= 8 else { return nil }
    let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// This process's CPU time, user and system, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// A release `permit-server` on a loopback port over `dataDir`, its clock at `now`, its per-key
/// rate limit raised far above what the bench sends (so that it measures the server, not the
/// limiter); its URL from the one line it prints when ready; SIGTERM to stop it.
final class ServerChild: @unchecked Sendable {
    let process = Process()
    private(set) var url = ""
    private let stderrFile: URL
    private var status: Int32?

    /// `database`: a `postgres://` URL for `--database`; `index` names the instance's stderr
    /// file; `environment` is added to this process's.
    init(executable: URL, dataDir: DataDirectory, now: Date, database: String? = nil, index: Int = 0, environment extra: [String: String] = [:]) throws {
        process.executableURL = executable
        // The rate limit raised: each party's key sends far more than a person would.
        process.arguments = ["--listen", "127.0.0.1:0", "--data-dir", dataDir.url.path,
                             "--rate-burst", "1000000", "--rate-per-second", "1000000"] + (database.map { ["--database", $0] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment["PERMIT_NOW"] = RFC3339.string(now)
        environment["LOG_LEVEL"] = "error"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        stderrFile = dataDir.url.appendingPathComponent(index == 0 ? "server.err" : "server-\(index).err")
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The first line, read on a thread of its own so that a silent server times out.
        final class Line: @unchecked Sendable { var bytes: [UInt8] = [] }
        let line = Line()
        let done = DispatchSemaphore(value: 0)
        let handle = stdout.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let chunk = handle.readData(ofLength: 1)
                if chunk.isEmpty || chunk.first == UInt8(ascii: "\n") { break }
                line.bytes.append(chunk.first!)
            }
            done.signal()
        }
        let text = done.wait(timeout: .now() + 30) == .success ? String(decoding: line.bytes, as: UTF8.self) : ""
        guard text.hasPrefix("listening on ") else {
            stop()
            throw BenchFailure("permit-server printed \(text.debugDescription) instead of 'listening on URL': \(stderrText)")
        }
        url = String(text.dropFirst("listening on ".count))
    }

    var stderrText: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// The server's CPU time so far (user and system, from /proc), in seconds.
    func cpuSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, then up to 10 s for the exit (SIGKILL after that); the exit status, nil if killed.
    @discardableResult
    func stop() -> Int32? {
        if let status { return status }
        guard process.isRunning else {
            status = process.terminationStatus
            return status
        }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            status = -1
            return nil
        }
        status = process.terminationStatus
        return status
    }

    deinit { stop() }
}
