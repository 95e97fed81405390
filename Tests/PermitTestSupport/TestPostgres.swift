import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary directory, started
/// with `pg_ctl` on a unix socket in that directory (no TCP port, so test runs never collide),
/// `fsync` off (`testSettings`). PostgreSQL refuses to run as root, so as root it runs as the `postgres` user
/// (`runuser`). It is started once per test process, on first use, and stopped when the process
/// exits: by an `atexit` handler, and by a watchdog process that waits for this process to end,
/// so that a crash or a kill stops it too.
///
/// If the cluster cannot start, `shared()` throws and every test on PostgreSQL fails with the
/// reason: they never skip.
public final class TestPostgres: @unchecked Sendable {
    /// The cluster's directory (data, socket and log).
    public let directory: String
    public let binaries: String
    public var socketDirectory: String { directory }
    public let user = "postgres"
    private let lock = NSLock()
    private var databases = 0

    private static let started: Result<TestPostgres, Error> = Result { try TestPostgres(settings: testSettings) }

    /// The tests' settings: nothing they check needs durability, so nothing waits for a disk.
    public static let testSettings = ["fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"]

    /// A cluster of its own with these settings (`-c NAME=VALUE` on the server's command line,
    /// beside the socket, `max_connections=300` and `shared_buffers=32MB`), stopped like the
    /// shared one when this process ends. The server bench starts one with durability settings
    /// that match the SQLite store's.
    public static func start(settings: [String: String]) throws -> TestPostgres { try TestPostgres(settings: settings) }

    /// The process's cluster, started on first use.
    public static func shared() throws -> TestPostgres { try started.get() }

    /// The directory of initdb, pg_ctl and psql: `$PERMIT_TEST_PG_BIN`, else the newest of
    /// Debian's /usr/lib/postgresql/*/bin.
    static func findBinaries() throws -> String {
        if let bin = ProcessInfo.processInfo.environment["PERMIT_TEST_PG_BIN"], !bin.isEmpty { return bin }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for v in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/initdb") {
            return "\(root)/\(v)/bin"
        }
        throw TestPostgresError("PostgreSQL's server binaries are not installed (no \(root)/*/bin/initdb): run scripts/setup (apt-get install postgresql)")
    }

    private init(settings: [String: String]) throws {
        binaries = try Self.findBinaries()
        // Short, because a unix socket's path is limited to about 100 bytes.
        let base = "/tmp/permit-pg-" + String(UUID().uuidString.prefix(8)).lowercased()
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        directory = base
        if getuid() == 0 {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: base)
        }
        let data = base + "/data"
        do {
            try run(asServer: true, "\(binaries)/initdb", ["-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            let options = "-c listen_addresses='' -c unix_socket_directories=\(base) -c max_connections=300 -c shared_buffers=32MB"
                + settings.sorted { $0.key < $1.key }.map { " -c \($0.key)=\($0.value)" }.joined()
            try run(asServer: true, "\(binaries)/pg_ctl", ["-D", data, "-l", base + "/log", "-o", options, "-w", "-t", "60", "start"])
        } catch {
            let log = (try? String(contentsOfFile: base + "/log", encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: base)
            throw TestPostgresError("the test PostgreSQL cluster did not start: \(error)\n\(log)")
        }
        TestPostgres.stopLock.withLock {
            if TestPostgres.stopCommands.isEmpty { atexit { TestPostgres.stopAtExit() } }
            TestPostgres.stopCommands.append(stopScript)
        }
        startWatchdog()
    }

    /// Stops the server and removes its directory.
    private var stopScript: String {
        let prefix = getuid() == 0 ? "runuser -u postgres -- " : ""
        return "\(prefix)'\(binaries)/pg_ctl' -D '\(directory)/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '\(directory)'"
    }

    nonisolated(unsafe) private static var stopCommands: [String] = []
    private static let stopLock = NSLock()

    private static func stopAtExit() {
        let commands = stopLock.withLock {
            defer { stopCommands = [] }
            return stopCommands
        }
        for command in commands { _ = try? spawnAndWait(["/bin/sh", "-c", command]) }
    }

    /// A shell that stops the cluster once this process is gone, however it ended. It runs in a
    /// session of its own (`setsid --fork`), so that a signal to this process's group (`timeout`,
    /// Ctrl-C) does not take it down with the tests.
    private func startWatchdog() {
        _ = try? Self.spawnAndWait(["/usr/bin/setsid", "--fork", "/bin/sh", "-c",
                                    "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stopScript)"])
    }

    /// A new, empty database: its `postgres://` URL (over the unix socket).
    public func createDatabase() throws -> String {
        let name: String = lock.withLock {
            databases += 1
            return "t\(getpid())_\(databases)"
        }
        _ = try psql(database: "postgres", "CREATE DATABASE \(name)")
        return url(database: name)
    }

    public func url(database: String) -> String {
        "postgres://\(user)@/\(database)?host=\(directory)"
    }

    /// Runs SQL with psql, as someone with access to the database would; its output, unaligned.
    @discardableResult
    public func psql(database: String, _ sql: String) throws -> String {
        try run(asServer: false, "\(binaries)/psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", directory, "-U", user, "-d", database, "-c", sql])
    }

    /// The database name in one of this cluster's URLs.
    public static func databaseName(of url: String) -> String {
        let path = url.split(separator: "?")[0]
        return String(path.split(separator: "/").last ?? "")
    }

    @discardableResult
    private func run(asServer: Bool, _ tool: String, _ arguments: [String]) throws -> String {
        var argv = [tool] + arguments
        if asServer && getuid() == 0 { argv = ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv }
        // Files, not pipes: the server that pg_ctl starts would inherit a pipe and hold it open.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("permit-pg-out-\(UUID().uuidString)")
        let err = out.appendingPathExtension("err")
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let status = try Self.spawnAndWait(argv, stdout: out.path, stderr: err.path)
        let output = (try? Data(contentsOf: out)) ?? Data()
        let errors = (try? Data(contentsOf: err)) ?? Data()
        guard status == 0 else {
            throw TestPostgresError("\((tool as NSString).lastPathComponent) exited \(status): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// posix_spawn and a blocking waitpid on that child: Foundation's `Process` missed the exit
    /// of a `runuser pg_ctl start` whose server had daemonised, and waited for ever.
    static func spawnAndWait(_ argv: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        guard spawned == 0 else { throw TestPostgresError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw TestPostgresError("waitpid \(argv[0]): \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
