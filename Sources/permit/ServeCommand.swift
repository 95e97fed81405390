import ArgumentParser
import Foundation

/// `permit serve`: the HTTP server lives in its own executable, `permit-server`, next to this one,
/// so that linking the server stack never slows the checkpoint's `permit verify` start. This verb
/// replaces the process with that binary, passing every argument after `serve` unchanged.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the permit service over HTTP (runs permit-server, installed next to permit).",
        discussion: """
        permit serve --listen HOST:PORT [--data-dir DIR] [--tls-cert FILE --tls-key FILE]
        Prints one line "listening on http://HOST:PORT" (https:// with TLS) when ready; port 0 picks \
        a free port and prints it. SIGTERM or SIGINT: stops accepting, finishes the requests in \
        flight, exits 0. "permit serve --help" lists every option.
        """
    )

    @Argument(parsing: .captureForPassthrough, help: "The options of permit-server.")
    var arguments: [String] = []

    func run() throws {
        ServerLauncher.exec(arguments)
    }
}

/// Finds `permit-server` beside the running `permit` and execs it.
enum ServerLauncher {
    static let serverName = "permit-server"

    /// Called before argument parsing: `permit serve …` goes straight to the server binary, which
    /// parses (and documents, with `--help`) its own options.
    static func execIfServe(_ arguments: [String] = CommandLine.arguments) {
        guard arguments.count >= 2, arguments[1] == "serve" else { return }
        exec(Array(arguments.dropFirst(2)))
    }

    /// Replaces this process with `permit-server` and `arguments`; exits 2 if it cannot.
    static func exec(_ arguments: [String]) -> Never {
        let path = serverPath()
        guard FileManager.default.fileExists(atPath: path) else {
            Console.error("permit: cannot serve: \(path) is missing (permit-server is built and installed together with permit, in the same directory)")
            exit(2)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        argv.append(nil)
        execv(path, argv)
        let reason = String(cString: strerror(errno))
        Console.error("permit: cannot serve: exec \(path): \(reason)")
        exit(2)
    }

    /// `permit-server` in the directory of the running executable (symbolic links resolved, as
    /// the kernel reports it in /proc/self/exe), else beside argv[0].
    static func serverPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable: String
        if n > 0 {
            executable = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        }
        return (executable as NSString).deletingLastPathComponent + "/" + serverName
    }
}
