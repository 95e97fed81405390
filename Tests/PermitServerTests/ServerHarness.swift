import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import XCTest

/// The built binaries and a data directory made with them: what every test drives over real HTTP.
enum Build {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let products = root.appendingPathComponent(".build/debug")
    static let permit = products.appendingPathComponent("permit")
    static let server = products.appendingPathComponent("permit-server")
    /// The clock of the workflow steps that made the data directory.
    static let setUpNow = "2026-11-30T09:00:00+08:00"
    /// The server's clock (PERMIT_NOW), inside the example permits' validity (2026-12-11 to 2027-01-05).
    static let serverNow = "2026-12-20T04:00:00Z"

    static func requireBinaries() throws {
        for binary in [permit, server] where !FileManager.default.isExecutableFile(atPath: binary.path) {
            throw HarnessFailure("build first: swift build (looked for \(binary.path))")
        }
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A finished child process.
struct Run {
    var status: Int32
    var stdout: Data
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to its end with standard input from /dev/null.
@discardableResult
func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil,
                check: Bool = true) throws -> Run {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    var env = ProcessInfo.processInfo.environment
    env["LANG"] = "C.UTF-8"
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("permit-server-test-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: out.path + ".err", contents: nil)
    defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(atPath: out.path + ".err") }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: out.path + ".err"))
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let result = Run(status: process.terminationStatus, stdout: (try? Data(contentsOf: out)) ?? Data(),
                     stderr: (try? String(contentsOfFile: out.path + ".err", encoding: .utf8)) ?? "")
    if check && result.status != 0 {
        throw HarnessFailure("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)\(result.text)")
    }
    return result
}

/// A running `permit serve` (started through the CLI, which execs permit-server): its URL from
/// the one line it prints, and SIGTERM to stop it. `stop()` is idempotent; tests call it in
/// tearDown so that no server outlives a failed test.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var url = ""
    private let stdout = Pipe()
    private let stderrFile: URL
    private var stopped = false

    init(arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = Build.permit
        process.arguments = ["serve"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_NOW"] = Build.serverNow
        for (k, v) in environment { env[k] = v }
        process.environment = env
        stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("permit-serve-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let line = try readLine(timeout: 20)
        guard line.hasPrefix("listening on ") else {
            stop()
            throw HarnessFailure("permit serve printed \(line.debugDescription) instead of 'listening on …'; stderr: \(stderrText)")
        }
        url = String(line.dropFirst("listening on ".count))
    }

    var stderrText: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// The first line on standard output, waiting at most `timeout` seconds.
    private func readLine(timeout: TimeInterval) throws -> String {
        let handle = stdout.fileHandleForReading
        final class Line: @unchecked Sendable { var bytes: [UInt8] = [] }
        let done = DispatchSemaphore(value: 0)
        let line = Line()
        Thread.detachNewThread {
            while true {
                let chunk = handle.readData(ofLength: 1)
                if chunk.isEmpty || chunk.first == UInt8(ascii: "\n") { break }
                line.bytes.append(chunk.first!)
            }
            done.signal()
        }
        if done.wait(timeout: .now() + timeout) == .timedOut {
            stop()
            throw HarnessFailure("permit serve printed no line in \(Int(timeout)) s; stderr: \(stderrText)")
        }
        return String(decoding: line.bytes, as: UTF8.self)
    }

    /// Anything printed on standard output after the first line (there should be nothing).
    func remainingOutput() -> String {
        String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// SIGTERM, then waits up to `timeout` seconds for the exit (SIGKILL after that); the exit status.
    @discardableResult
    func stop(timeout: TimeInterval = 10) -> Int32? {
        guard !stopped else { return process.isRunning ? nil : process.terminationStatus }
        stopped = true
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        try? FileManager.default.removeItem(at: stderrFile)
        return process.terminationStatus
    }

    deinit { stop(timeout: 2) }
}

/// An HTTP answer, whole.
struct Reply {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first(name: name) }
    func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(body)) }
}

/// AsyncHTTPClient without redirects (the tests look at the 301 themselves), trusting `caFile` when given.
final class Client: @unchecked Sendable {
    let http: HTTPClient

    init(caFile: String? = nil, readTimeout: Int64 = 60) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        configuration.timeout = .init(connect: .seconds(min(10, readTimeout)), read: .seconds(readTimeout))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func send(_ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(60))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer.readableBytesView))
    }

    func shutdown() async throws { try await http.shutdown() }
}
