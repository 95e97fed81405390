import Foundation
import PermitSeal
import PermitTestSupport

/// `scripts/bench server --postgres` or `--database URL` (or `PERMIT_BENCH_DATABASE=URL`): the
/// same clients as the server bench, in the same run, against
///   - the SQLite server, one instance (the server bench's own run);
///   - PostgreSQL with two `permit-server` instances sharing one database, the clients taking
///     the instances in turn;
///   - PostgreSQL with one instance (`PERMIT_BENCH_PG_ONE=0` leaves it out).
/// Each run's database is made for it (`CREATE DATABASE`) and dropped afterwards: with
/// `--database`, on the server that URL names, by the user it names (who needs CREATEDB; the
/// URL's own database is only connected to); with `--postgres`, on a throwaway cluster that
/// the bench starts like the tests' (`TestPostgres`: initdb into /tmp, a unix socket, run as
/// the `postgres` user when we are root) but with durability that matches the SQLite store's:
/// `fsync=on`, `full_page_writes=on`, and `synchronous_commit=off`
/// (`PERMIT_BENCH_PG_SYNCHRONOUS_COMMIT` to change), the nearest to SQLite's WAL with
/// `synchronous=NORMAL` (a commit does not wait for the disk; a power cut may lose the last
/// commits, never corrupts). Every run prints the settings its store actually had.
/// The servers' write transactions are traced (`PERMIT_PG_LOCK_TRACE`, one line per commit):
/// how long writers waited for the authority's advisory lock and how much of the wall time it
/// was held.
///
/// `PERMIT_BENCH_AUTHORITY=added` runs every client against an authority added to the
/// deployment after the first (its own SQLite file; its own schema of the database), as most
/// authorities of a province's deployment are, instead of the first authority.
///
/// `PERMIT_BENCH_ROUNDS=N` runs the same comparison N times for each client count, PostgreSQL
/// first in every second round, and ends with each client count's median ratio, its range and
/// the rounds that met the target: the SQLite server's own rate varies from run to run here by
/// more than the difference a change makes, so one round's ratio is a weak verdict.
func runServerPostgresBench(server: URL, postgres: PostgresBenchDatabase, clientCounts: [Int], count: Int, seconds: Double) async throws {
    let key = PrivateKey.generate(.edDSA)
    let message = Array(repeating: UInt8(0x61), count: 300)
    let rawSign = Rate.measure { _ in _ = key.sign(message) }
    let one = ProcessInfo.processInfo.environment["PERMIT_BENCH_PG_ONE"] != "0"
    let added = try benchAuthorityIsAdded()
    print("server bench, SQLite against PostgreSQL: \(count) applications a run from firms in batches of 1–10, approved by the ten departments' approvers; "
          + "loopback HTTP, release permit-server, \(ProcessInfo.processInfo.activeProcessorCount) cores shared by the clients, the servers and PostgreSQL")
    print("  PostgreSQL: \(postgres.description)")
    print("  authority: " + (added ? "\(BenchAuthority.addedCode), added to the deployment after the first (PERMIT_BENCH_AUTHORITY=added)"
                                    : "\(BenchAuthority.firstCode), the deployment's first"))
    print(String(format: "  raw Ed25519 signing in this run: %.0f/s; load average %@", rawSign, loadAverage()))
    let rounds = max(1, Int(ProcessInfo.processInfo.environment["PERMIT_BENCH_ROUNDS"] ?? "") ?? 1)
    var rows: [(clients: Int, round: Int, sqlite: ServerBenchRun, two: ServerBenchRun, one: ServerBenchRun?, load: String)] = []
    var summaries: [String] = []
    /// One run of the clients against the servers of one store, printed.
    func measured(_ label: String, clients: Int, on postgres: PostgresBenchDatabase? = nil, instances: Int = 1) async throws -> ServerBenchRun {
        let run = try await ServerBenchRun.overHTTP(server: server, clients: clients, count: count, seconds: seconds,
                                                    postgres: postgres, instances: instances, added: added, label: label)
        run.print()
        return run
    }
    for clients in clientCounts {
        for round in 1...rounds {
            let postgresFirst = round % 2 == 0
            if rounds > 1 { print("  round \(round) of \(rounds), \(clients) clients\(postgresFirst ? ", PostgreSQL with 2 instances first" : "")") }
            let sqlite: ServerBenchRun, two: ServerBenchRun
            if postgresFirst {
                two = try await measured("PostgreSQL, 2 instances", clients: clients, on: postgres, instances: 2)
                sqlite = try await measured("SQLite, 1 instance", clients: clients)
            } else {
                sqlite = try await measured("SQLite, 1 instance", clients: clients)
                two = try await measured("PostgreSQL, 2 instances", clients: clients, on: postgres, instances: 2)
            }
            let single = one ? try await measured("PostgreSQL, 1 instance", clients: clients, on: postgres) : nil
            let load = loadAverage()
            var line = String(format: "  %d clients: PostgreSQL 2 instances / SQLite 1 instance %.3f (target ≥ 0.7)", clients,
                              two.permitsPerSecond / sqlite.permitsPerSecond)
            if let single { line += String(format: "; PostgreSQL 1 instance / SQLite %.3f, 2 instances / 1 instance %.3f",
                                           single.permitsPerSecond / sqlite.permitsPerSecond, two.permitsPerSecond / single.permitsPerSecond) }
            print(line + "; load average \(load)")
            rows.append((clients, round, sqlite, two, single, load))
        }
        if rounds > 1 {
            let ratios = rows.filter { $0.clients == clients }.map { $0.two.permitsPerSecond / $0.sqlite.permitsPerSecond }.sorted()
            let median = ratios.count % 2 == 1 ? ratios[ratios.count / 2] : (ratios[ratios.count / 2 - 1] + ratios[ratios.count / 2]) / 2
            let summary = String(format: "  %d clients over %d rounds: PostgreSQL 2 instances / SQLite 1 instance median %.3f, %.3f–%.3f; target ≥ 0.7 met in %d of %d",
                                 clients, rounds, median, ratios.first!, ratios.last!, ratios.filter { $0 >= 0.7 }.count, rounds)
            print(summary)
            summaries.append(summary)
        }
    }
    print("  clients\(rounds > 1 ? " (round)" : "") | SQLite 1 permits/s | PG 2 instances permits/s | PG2 / SQLite | PG 1 instance permits/s | PG1 / SQLite | request p50 / p99 ms (SQLite; PG2; PG1) | decision-to-issue p99 ms (SQLite; PG2; PG1) | lock held (PG2; PG1) | load")
    for r in rows {
        let runs = [r.sqlite, r.two] + (r.one.map { [$0] } ?? [])
        let latency = runs.map { String(format: "%.1f / %.1f", $0.percentile(0.5), $0.percentile(0.99)) }.joined(separator: "; ")
        let issue = runs.map { String(format: "%.2f", $0.issuePercentile(0.99)) }.joined(separator: "; ")
        let held = [r.two, r.one].compactMap { $0?.lock.map { String(format: "%.0f%%", 100 * $0.heldShare) } }.joined(separator: "; ")
        let clients = rounds > 1 ? "\(r.clients) (\(r.round))" : "\(r.clients)"
        print(String(format: "  %7@ | %18.0f | %24.0f | %12.3f | %@ | %@ | %@ | %@ | %@ | %@", clients, r.sqlite.permitsPerSecond, r.two.permitsPerSecond,
                     r.two.permitsPerSecond / r.sqlite.permitsPerSecond, r.one.map { String(format: "%.0f", $0.permitsPerSecond) } ?? "-",
                     r.one.map { String(format: "%.3f", $0.permitsPerSecond / r.sqlite.permitsPerSecond) } ?? "-", latency, issue, held, r.load))
    }
    for summary in summaries { print(summary) }
    if rows.contains(where: { !$0.sqlite.checked || !$0.two.checked || $0.one?.checked == false }) { throw BenchFailure("a run did not pass its check (above)") }
}

/// `PERMIT_BENCH_AUTHORITY`: `first` (or unset) or `added`; anything else is refused.
func benchAuthorityIsAdded() throws -> Bool {
    switch ProcessInfo.processInfo.environment["PERMIT_BENCH_AUTHORITY"] ?? "" {
    case "", "first": return false
    case "added": return true
    case let other: throw BenchFailure("PERMIT_BENCH_AUTHORITY=\(other): give first (the deployment's first authority) or added (one added after it)")
    }
}

/// /proc/loadavg's first three figures.
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3).joined(separator: " ")
}

/// Where the PostgreSQL runs put their databases: a server named by a URL, or a throwaway
/// cluster of the bench's own. psql does the administration and the checks.
final class PostgresBenchDatabase: @unchecked Sendable, CustomStringConvertible {
    /// A URL to connect to for `CREATE DATABASE` and `DROP DATABASE`.
    let adminURL: String
    /// The throwaway cluster, kept until the process ends (which stops it).
    let cluster: TestPostgres?
    let psqlPath: String

    init(adminURL: String, cluster: TestPostgres?, psqlPath: String) {
        self.adminURL = adminURL
        self.cluster = cluster
        self.psqlPath = psqlPath
    }

    /// `--database URL` / `--database=URL` / `PERMIT_BENCH_DATABASE`, or `--postgres` for a
    /// throwaway cluster; nil for the SQLite-only server bench.
    static func fromArguments(environment: [String: String]) throws -> PostgresBenchDatabase? {
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        var url = environment["PERMIT_BENCH_DATABASE"].flatMap { $0.isEmpty ? nil : $0 }
        var own = false
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--database", i + 1 < arguments.count {
                url = arguments[i + 1]
                i += 1
            } else if a.hasPrefix("--database=") {
                url = String(a.dropFirst("--database=".count))
            } else if a == "--postgres" {
                own = true
            } else {
                throw BenchFailure("permit-bench server: unknown argument \(a) (--database URL or --postgres)")
            }
            i += 1
        }
        if let url {
            return PostgresBenchDatabase(adminURL: url, cluster: nil, psqlPath: "/usr/bin/psql")
        }
        guard own else { return nil }
        let synchronousCommit = environment["PERMIT_BENCH_PG_SYNCHRONOUS_COMMIT"] ?? "off"
        let cluster = try TestPostgres.start(settings: ["fsync": "on", "full_page_writes": "on", "synchronous_commit": synchronousCommit,
                                                        "shared_buffers": "128MB"])
        return PostgresBenchDatabase(adminURL: cluster.url(database: "postgres"), cluster: cluster, psqlPath: cluster.binaries + "/psql")
    }

    var description: String {
        if let cluster {
            return "a throwaway cluster started by the bench (initdb in \(cluster.directory), unix socket, PostgreSQL's defaults but "
                + "shared_buffers=128MB, max_connections=300 and the durability below), a database made for each run"
        }
        return "the server at \(PostgresBenchDatabase.redact(adminURL)), a database made for each run there and dropped after it"
    }

    /// Makes an empty database for a run: its URL.
    func createDatabase() throws -> String {
        let name = "permit_bench_" + String(UUID().uuidString.prefix(8)).lowercased()
        try psql(adminURL, "CREATE DATABASE \(name)")
        return Self.replacingDatabase(in: adminURL, with: name)
    }

    func dropDatabase(_ url: String) {
        let name = Self.databaseName(url)
        // PERMIT_BENCH_PG_KEEP=1 keeps each run's database, for EXPLAIN and pg_stat_statements afterwards.
        if ProcessInfo.processInfo.environment["PERMIT_BENCH_PG_KEEP"] == "1" {
            Swift.print("  kept the run's database \(name) (PERMIT_BENCH_PG_KEEP=1)")
            return
        }
        _ = try? psql(adminURL, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// fsync, synchronous_commit and full_page_writes as the server SHOWs them.
    func durability(_ url: String) throws -> String {
        var settings: [String] = []
        for name in ["fsync", "synchronous_commit", "full_page_writes"] {
            let value = try psql(url, "SHOW \(name)")
            settings.append("\(name)=\(value)")
        }
        return settings.joined(separator: ", ")
    }

    /// Runs one statement; its rows unaligned, columns split by "|".
    @discardableResult
    func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: psqlPath)
        process.arguments = ["-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchFailure("psql \(Self.redact(url)) -c \(sql.prefix(60)): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The URL's path (the database) replaced; scheme, user, host and query kept.
    static func replacingDatabase(in url: String, with name: String) -> String {
        let (base, query) = split(url)
        guard let scheme = base.range(of: "://") else { return url }
        let rest = base[scheme.upperBound...]
        let authority = rest.firstIndex(of: "/").map { rest[..<$0] } ?? rest
        return String(base[..<scheme.upperBound]) + String(authority) + "/" + name + query
    }

    static func databaseName(_ url: String) -> String {
        let (base, _) = split(url)
        guard let scheme = base.range(of: "://") else { return "" }
        let rest = base[scheme.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[rest.index(after: $0)...]) } ?? ""
    }

    private static func split(_ url: String) -> (String, String) {
        guard let q = url.firstIndex(of: "?") else { return (url, "") }
        return (String(url[..<q]), String(url[q...]))
    }

    /// The URL with its password, if any, hidden.
    static func redact(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// What the servers' write transactions did with the advisory lock, from their traces (see
/// `LockTrace` in PermitStorePostgres): one line per committed write transaction.
struct LockTraceSummary {
    var writes = 0
    /// The writers' bodies those transactions ran (several a transaction when combined; nil for
    /// a build that does not trace them).
    var writers: Int?
    /// Write transactions that never took the lock (a nonce admitted and nothing else).
    var lockFree = 0
    var instances = 0
    var statements = 0.0
    /// The waits for an answer a write transaction made, on average (when traced), COMMIT's included.
    var waits = 0.0
    /// The share of the run's wall time during which some writer held the lock (the union of
    /// lock-granted to COMMIT-answered, as the servers saw it).
    var heldShare = 0.0
    var heldMean = 0.0, heldP99 = 0.0, heldBodyP50 = 0.0, heldCommitP50 = 0.0, contextWakeP50 = 0.0, toLastWaitP50 = 0.0, lastWaitP50 = 0.0
    var lockP50 = 0.0, lockP99 = 0.0, lockMean = 0.0
    /// The CPU time of a write transaction's thread to the body's end (its bodies' own work), p50 and
    /// mean a transaction and mean a writer; the reads of the writers taken at the grant: sent to
    /// answered on the event loop, answered to in hand on the thread (p50), and the share of the
    /// write transactions that sent them; nil for a trace without them (a build before).
    var threadCPU: (p50: Double, mean: Double, perWriter: Double)?
    var aheadTrip: (answered: Double, inHand: Double, share: Double)?
    /// A statement's round trip as the transactions waited for it, on average (when traced).
    var roundTrip: Double?
    /// Else BEGIN's median (traces of the build before the waits were traced).
    var beginMedian: Double?
    /// The time from asking for the lock to its grant beyond one round trip, summed.
    var waitedSeconds = 0.0
    /// The write transactions' time from asking for a connection to COMMIT answered, summed.
    var transactionSeconds = 0.0
    var leaseP50 = 0.0, leaseP99 = 0.0
    var wallSeconds = 0.0

    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    init(files: [URL], from: UInt64, to: UInt64) {
        var all: [[UInt64]] = []
        for file in files {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            instances += 1
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ").compactMap { UInt64($0) }
                if f.count >= 7, f[5] >= from, f[0] <= to { all.append(f) }
            }
        }
        writes = all.count
        if all.contains(where: { $0.count >= 12 }) { writers = all.reduce(0) { $0 + Int($1.count >= 12 ? max($1[11], 1) : 1) } }
        wallSeconds = Double(to - from) / 1e9
        guard !all.isEmpty else { return }
        func ms(_ v: UInt64) -> Double { Double(v) / 1e6 }
        func pct(_ values: [Double], _ p: Double) -> Double {
            let s = values.sorted()
            return s.isEmpty ? 0 : s[min(s.count - 1, Int(Double(s.count) * p))]
        }
        statements = Double(all.reduce(0) { $0 + Int($1[6]) }) / Double(all.count)
        // The waits for answers, less the wait for the lock (which the first of them includes
        // when the lock is queued with the statement after it).
        let traced = all.filter { $0.count >= 9 && $0[7] > 0 }
        let waits = traced.reduce(0) { $0 + $1[7] }
        if waits > 0 {
            self.waits = Double(waits) / Double(traced.count)
            roundTrip = ms(traced.reduce(0) { $0 + ($1[8] - min($1[8], $1[3] > $1[2] ? $1[3] - $1[2] : 0)) }) / Double(waits)
        }
        transactionSeconds = all.reduce(0) { $0 + ms($1[5] - $1[0]) } / 1e3
        let lease = all.map { ms($0[1] - $0[0]) }
        leaseP50 = pct(lease, 0.5)
        leaseP99 = pct(lease, 0.99)
        let lines = all.filter { $0[3] > 0 && $0[2] > 0 }
        lockFree = all.count - lines.count
        guard !lines.isEmpty else { return }
        let held = lines.map { ms($0[5] - $0[3]) }
        let lock = lines.map { ms($0[3] - $0[2]) }
        heldMean = held.reduce(0, +) / Double(held.count)
        heldP99 = pct(held, 0.99)
        heldBodyP50 = pct(lines.map { ms($0[4] - min($0[4], $0[3])) }, 0.5)
        heldCommitP50 = pct(lines.map { ms($0[5] - $0[4]) }, 0.5)
        let woke = lines.filter { $0.count >= 10 && $0[9] >= $0[3] }
        contextWakeP50 = pct(woke.map { ms($0[9] - $0[3]) }, 0.5)
        let timed = woke.filter { $0.count >= 11 && $0[10] >= $0[9] && $0[4] >= $0[10] }
        toLastWaitP50 = pct(timed.map { ms($0[10] - $0[9]) }, 0.5)
        lastWaitP50 = pct(timed.map { ms($0[4] - $0[10]) }, 0.5)
        let cpu = lines.filter { $0.count >= 13 }
        if !cpu.isEmpty {
            let each = cpu.map { ms($0[12]) }
            let writers = cpu.reduce(0) { $0 + $1[11] }
            threadCPU = (pct(each, 0.5), each.reduce(0, +) / Double(each.count), writers > 0 ? each.reduce(0, +) / Double(writers) : 0)
        }
        let ahead = lines.filter { $0.count >= 16 && $0[13] > 0 && $0[14] >= $0[13] && $0[15] >= $0[14] }
        if !ahead.isEmpty {
            let writes = lines.filter { $0.count >= 16 && $0[11] > 0 }.count
            aheadTrip = (pct(ahead.map { ms($0[14] - $0[13]) }, 0.5), pct(ahead.map { ms($0[15] - $0[14]) }, 0.5),
                         Double(ahead.count) / Double(max(writes, 1)))
        }
        lockP50 = pct(lock, 0.5)
        lockP99 = pct(lock, 0.99)
        lockMean = lock.reduce(0, +) / Double(lock.count)
        // Uncontended, asking for the lock costs a round trip (BEGIN's too, when it is queued with it).
        if roundTrip == nil { beginMedian = pct(lines.map { ms($0[2] - $0[1]) }, 0.5) }
        let floor = roundTrip ?? beginMedian!
        waitedSeconds = lock.reduce(0) { $0 + max(0, $1 - floor) } / 1e3
        // The union of the held intervals, clipped to the run.
        var union: UInt64 = 0
        var end: UInt64 = 0
        for f in lines.sorted(by: { $0[3] < $1[3] }) {
            let a = max(f[3], from, end), b = min(f[5], to)
            if b > a { union += b - a }
            end = max(end, b)
        }
        heldShare = Double(union) / Double(to - from)
    }

    func print() {
        let combined = writers.map { String(format: " running %d writers' bodies (%.1f a transaction)", $0, Double($0) / Double(max(writes, 1))) } ?? ""
        Swift.print(String(format: "    advisory lock: %d write transactions%@ on %d instance(s) (%d of them took no lock), %.1f statements and %.1f waits for an answer each; held %.0f%% of the wall time "
                           + "(lock granted to COMMIT answered, union over the instances), %.2f ms a transaction (p99 %.2f; p50 %.2f ms granted to the body's end, %.2f ms for COMMIT; the transaction's thread had the grant in hand %.2f ms after it arrived, then %.2f ms to its last wait, which took %.2f ms)",
                           writes, combined, instances, lockFree, statements, waits, 100 * heldShare, heldMean, heldP99, heldBodyP50, heldCommitP50, contextWakeP50, toLastWaitP50, lastWaitP50))
        Swift.print(String(format: "    waiting for it: asked to granted p50 %.2f ms, p99 %.2f ms, mean %.2f ms, against %.2f ms for a round trip%@; "
                           + "%.2f s waited beyond that, %.0f%% of the write transactions' %.2f s; lease of a connection and a thread p50 %.2f ms, p99 %.2f ms",
                           lockP50, lockP99, lockMean, roundTrip ?? beginMedian ?? 0, roundTrip == nil ? " (BEGIN's median)" : " (the transactions' mean wait for an answer)",
                           waitedSeconds, transactionSeconds > 0 ? 100 * waitedSeconds / transactionSeconds : 0,
                           transactionSeconds, leaseP50, leaseP99))
        if let threadCPU {
            var line = String(format: "    inside it: the transaction's thread worked %.2f ms a transaction (p50; mean %.2f, %.2f ms a writer's body)",
                              threadCPU.p50, threadCPU.mean, threadCPU.perWriter)
            if let aheadTrip {
                line += String(format: "; the reads of the writers it took at the grant (in %.0f%% of them) answered on the event loop %.2f ms after they were sent, in hand on the thread %.2f ms later (p50)",
                               100 * aheadTrip.share, aheadTrip.answered, aheadTrip.inHand)
            }
            Swift.print(line)
        }
    }
}
