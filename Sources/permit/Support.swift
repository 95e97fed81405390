import ArgumentParser
import Foundation
import PermitAPI
import PermitClient
import PermitFoundation
import PermitModel
import PermitSeal
import PermitWorkflow

/// The data directory option every workflow command takes.
struct DataOptions: ParsableArguments {
    @OptionGroup var local: LocalDataOptions

    @Option(help: ArgumentHelp("A permit server instead of a local data directory (default: $PERMIT_SERVER). Every request is signed with your key.",
                               valueName: "URL"))
    var server: String?

    @Option(help: ArgumentHelp("The authority, by code, where the deployment (the data directory, or the server) hosts several.", valueName: "CODE"))
    var authority: String?

    var directory: DataDirectory { local.directory }

    /// The directory of the authority `--authority` names in the local deployment (its
    /// `routing.json`): `authorities/CODE/` for an added one, else the top.
    var routingDirectory: DataDirectory {
        if let authority, serverURL == nil, FileManager.default.fileExists(atPath: directory.addedAuthority(authority).url.path) {
            return directory.addedAuthority(authority)
        }
        return directory
    }

    /// The data directory of the authority that `service` (a local one) works on; the top for a server's.
    func authorityDirectory(of service: any PermitService) -> DataDirectory {
        (service as? LocalPermitService)?.workflow.directory ?? directory
    }

    func validate() throws {
        if server != nil && local.database != nil {
            throw ValidationError("give --server URL or --database URL, not both: a server has its own database")
        }
    }

    /// The server to use: `--server`, else `$PERMIT_SERVER`; nil works on the local data directory.
    var serverURL: String? {
        if let server, !server.isEmpty { return server }
        if let env = ProcessInfo.processInfo.environment["PERMIT_SERVER"], !env.isEmpty { return env }
        return nil
    }

    /// The permit service: the server's over HTTP, each request signed by `signer` (which a
    /// server requires), or the workflow on the initialised data directory.
    func service(signer: PartySigner?) async throws -> any PermitService {
        guard let url = serverURL else { return try await local.localService(authority: authority) }
        guard let signer else {
            throw CommandFailure("auth.keyNeeded", "over --server every request is signed: give --key FILE (a firm's or an approver's key) or --admin-key FILE",
                                 field: "key", rule: "a registered key signs each request (RFC 9421)")
        }
        return try await HTTPPermitService.connect(server: url, authority: authority, signer: signer)
    }

}

/// `--data-dir DIR` and `--database URL`: the verbs that run where the database is (`init`,
/// `backup`, `trust export`), and every workflow verb without `--server`.
struct LocalDataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The authority's data directory (default: $PERMIT_HOME, or ./permit-data).", valueName: "DIR"))
    var dataDir: String?

    @Option(help: ArgumentHelp("""
        A PostgreSQL database instead of the data directory's SQLite file (default: $PERMIT_DATABASE): \
        postgres://USER[:PASSWORD]@HOST[:PORT]/DB, or postgres://USER@/DB?host=/SOCKET/DIR. Keys, root.pub.pem \
        and the trust list stay in the data directory.
        """, valueName: "URL"))
    var database: String?

    /// The database URL: `--database`, else `$PERMIT_DATABASE`; nil is the data directory's SQLite file.
    var databaseURL: String? {
        if let database, !database.isEmpty { return database }
        if let env = ProcessInfo.processInfo.environment["PERMIT_DATABASE"], !env.isEmpty { return env }
        return nil
    }

    var directory: DataDirectory {
        if let dataDir, !dataDir.isEmpty {
            return DataDirectory(url: URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL)
        }
        return DataDirectory.fromEnvironment()
    }

    /// The workflow of one authority of the initialised data directory (and the database, if one
    /// is named), with the command's clock: the authority `code` names, or the only one. With
    /// several and no code it is `authority.choose`, naming the codes.
    func localService(authority code: String?) async throws -> any BackupCapable {
        LocalPermitService(workflow: try await Deployment.openAuthority(directory: directory, clock: try currentClock(), database: databaseURL,
                                                                        authority: code))
    }

    /// Every authority of the initialised data directory (and the database, if one is named).
    func localDeployment() async throws -> Deployment {
        try await Deployment.open(directory: directory, clock: try currentClock(), database: databaseURL)
    }
}

/// `--key FILE` or `--admin-key FILE` on verbs that only read: over `--server` the request is
/// signed with one of them (a firm sees its own applications, an approver its department's, the
/// admin everything); locally neither is needed.
struct ReaderKeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Over --server: your registered key (a firm's or an approver's), which signs the request.", valueName: "FILE"))
    var key: String?

    @Option(name: .customLong("admin-key"), help: ArgumentHelp("Over --server: the authority's admin key, which signs the request.", valueName: "FILE"))
    var adminKey: String?

    func validate() throws {
        if key != nil && adminKey != nil { throw ValidationError("give --key FILE or --admin-key FILE, not both") }
    }

    /// The signer of the given key, nil when neither was given.
    func signer() throws -> PartySigner? {
        if let key { return try partySigner(key) }
        if let adminKey { return try partySigner(adminKey, field: "admin-key") }
        return nil
    }
}

/// How a listing pages: a first page of `--limit` rows (default 50), the page after `--after
/// CURSOR`, or `--all` pages.
struct PageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Rows a page (1 to 1000; default 50).", valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp("The page after this cursor (printed with the previous page).", valueName: "CURSOR"))
    var after: String?

    @Flag(name: .customLong("all"), help: "Every page.")
    var everyPage = false

    func validate() throws {
        if everyPage && (limit != nil || after != nil) { throw ValidationError("--all takes every page: leave out --limit and --after") }
        if let limit, !(1...PageCursor.maxLimit).contains(limit) { throw ValidationError("--limit \(limit) must be 1 to \(PageCursor.maxLimit)") }
    }

    /// Every row the options ask for, fetching page after page for `--all`, and the cursor of
    /// the page after the last one printed.
    func rows<T: Sendable>(_ fetch: (_ limit: Int, _ after: String?) async throws -> Page<T>) async throws -> (rows: [T], next: String?) {
        guard everyPage else {
            let page = try await fetch(limit ?? PageCursor.defaultLimit, after)
            return (page.items, page.next)
        }
        return (try await PageOptions.every(fetch), nil)
    }

    /// Every row of a listing, page after page.
    static func every<T: Sendable>(_ fetch: (_ limit: Int, _ after: String?) async throws -> Page<T>) async throws -> [T] {
        var rows: [T] = []
        var cursor: String?
        repeat {
            let page = try await fetch(PageCursor.maxLimit, cursor)
            rows += page.items
            cursor = page.next
        } while cursor != nil
        return rows
    }

    /// Says where the next page starts: on standard error with `--json` (standard output stays
    /// one JSON array), else under the table.
    func reportNext(_ next: String?, json: Bool, lang: Language, command: String) {
        guard let next else { return }
        let line = lang.pick("还有更多：\(command) --after \(next)", "more: \(command) --after \(next)")
        if json { Console.error("next: \(next)") } else { Console.out(line) }
    }
}

/// The clock every command uses: the machine's, unless `PERMIT_NOW` (RFC 3339) fixes "now"
/// for reproducible runs (the demo, tests, audits replaying a day).
func currentClock() throws -> any PermitClock {
    guard let text = ProcessInfo.processInfo.environment["PERMIT_NOW"], !text.isEmpty else { return SystemClock() }
    guard let date = RFC3339.date(text) else {
        throw CommandFailure("env.permitNow", "PERMIT_NOW=\(text) is not an RFC 3339 time such as 2026-11-30T09:00:00+08:00",
                             field: "PERMIT_NOW", value: text, rule: "RFC 3339 date-time with a time-zone offset")
    }
    return FixedClock(date)
}

/// Times for people and for JSON: RFC 3339 in the process's time zone.
enum Timestamps {
    private static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = displayTimeZone
        return f
    }()

    /// The zone of `PERMIT_NOW`'s offset when it is set (so a replayed day reads in its own
    /// zone), else the process's zone.
    static let displayTimeZone: TimeZone = {
        if let text = ProcessInfo.processInfo.environment["PERMIT_NOW"], text.count >= 6 {
            let tail = String(text.suffix(6))
            if tail.first == "+" || tail.first == "-", let h = Int(tail.dropFirst().prefix(2)), let m = Int(tail.suffix(2)) {
                let seconds = (h * 3600 + m * 60) * (tail.first == "-" ? -1 : 1)
                if let zone = TimeZone(secondsFromGMT: seconds) { return zone }
            }
        }
        return TimeZone.current
    }()

    static func string(_ date: Date) -> String { formatter.string(from: date) }

    /// "3h 12m", "2d 4h", "45s": how long, for queue ages.
    static func duration(_ seconds: TimeInterval, _ lang: Language) -> String {
        let s = Int(abs(seconds))
        let sign = seconds < 0 ? "-" : ""
        let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60)
        if d > 0 { return sign + lang.pick("\(d)天\(h)小时", "\(d)d \(h)h") }
        if h > 0 { return sign + lang.pick("\(h)小时\(m)分", "\(h)h \(m)m") }
        if m > 0 { return sign + lang.pick("\(m)分", "\(m)m") }
        return sign + lang.pick("\(s)秒", "\(s)s")
    }
}

extension Language {
    var display: DisplayLanguage { self == .zh ? .zh : .en }
}

/// Runs a command body, turning whole-request refusals into `CommandFailure`s that honour `--json`.
/// `refusalCodes` are problem codes that mean "the item was refused" (exit 1) rather than
/// "could not run" (exit 2).
func reporting<T>(json: Bool, refusalCodes: Set<String> = [], _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch var failure as CommandFailure {
        failure.json = failure.json || json
        throw failure
    } catch let error as ProblemConvertible {
        let problems = error.problems
        let refused = !problems.isEmpty && problems.allSatisfy { refusalCodes.contains($0.code) }
        throw CommandFailure(problems: problems, exitCode: refused ? 1 : 2, json: json)
    }
}

/// Loads a private key named by a flag; a missing or unreadable file is exit 2.
func loadPrivateKey(_ path: String, field: String = "key") throws -> PrivateKey {
    do {
        return try PrivateKey.load(path: path)
    } catch {
        throw CommandFailure("key.unreadable", "--\(field) \(path): \(error.description)", field: field, value: path,
                             rule: "a PKCS#8 private key file readable only by its owner")
    }
}

/// The party a command acts as: its own key file, and the command's clock for signing.
func partySigner(_ path: String, field: String = "key") throws -> PartySigner {
    PartySigner(key: try loadPrivateKey(path, field: field), clock: try currentClock())
}

/// Loads a public key (or a private key's public half) named by a flag.
func loadPublicKey(_ path: String, field: String) throws -> PublicKey {
    do {
        return try PublicKey.load(path: path)
    } catch {
        throw CommandFailure("key.unreadable", "--\(field) \(path): \(error.description)", field: field, value: path,
                             rule: "an SPKI public key or PKCS#8 private key file (PEM or DER)")
    }
}

/// A progress line on standard error for long batches, redrawn at most ten times a second,
/// and only when standard error is a terminal.
/// Called back on the task that runs the batch, one update at a time.
final class ProgressLine: @unchecked Sendable {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private var lastDraw: UInt64 = 0
    private let start = DispatchTime.now().uptimeNanoseconds

    init(total: Int, label: String, threshold: Int = 1_000) {
        self.total = total
        self.label = label
        enabled = total > threshold && Console.stderrIsTerminal
    }

    /// The callback to hand to the workflow, or nil when no progress is shown.
    var callback: (@Sendable (Int) -> Void)? {
        guard enabled else { return nil }
        return { @Sendable [self] n in update(n) }
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard done == total || now - lastDraw >= 100_000_000 else { return }
        lastDraw = now
        let elapsed = Double(now - start) / 1e9
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let percent = total > 0 ? done * 100 / total : 100
        let filled = total > 0 ? done * 20 / total : 20
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 20 - filled)
        FileHandle.standardError.write(Data("\r\(label) \(bar) \(done)/\(total) (\(percent)%, \(Int(rate))/s)\u{1B}[K".utf8))
    }

    /// Clears the line so the summary starts clean.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Text columns that line up with CJK characters (two cells wide) in them.
enum TextTable {
    static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { w, u in
            let v = u.value
            let wide = (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
                || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
                || (0xFFE0...0xFFE6).contains(v) || (0x20000...0x3FFFD).contains(v)
            return w + (wide ? 2 : (u.properties.generalCategory == .nonspacingMark ? 0 : 1))
        }
    }

    static func pad(_ s: String, _ to: Int) -> String { s + String(repeating: " ", count: max(0, to - width(s))) }

    /// Renders rows under a header, columns separated by two spaces.
    static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(width)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], width(cell)) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : pad(c, widths[i]) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Identifiers given as arguments, one per line from a file, or from standard input with `-`.
enum IdentifierInput {
    /// The input's lines (`InputFile.lines`), empty lines skipped.
    static func lines(from path: String) throws -> [String] {
        InputFile.lines(try InputFile.read(path)).filter { !$0.isEmpty }
    }
}
