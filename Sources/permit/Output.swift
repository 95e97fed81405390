import ArgumentParser
import Foundation
import PermitAPI
import PermitModel

/// Options every command that prints takes.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON (a listing is one array; a batch is JSON Lines).")
    var json = false

    @Option(name: .long, help: "Language of human output: zh or en (default from LANG).")
    var lang: Language?

    var language: Language { lang ?? Language.fromEnvironment() }
}

/// The language of human output.
enum Language: String, ExpressibleByArgument, CaseIterable {
    case zh, en

    static func fromEnvironment() -> Language {
        let env = ProcessInfo.processInfo.environment
        let value = env["LC_ALL"] ?? env["LC_MESSAGES"] ?? env["LANG"] ?? ""
        return value.lowercased().hasPrefix("zh") ? .zh : .en
    }

    func pick(_ zh: String, _ en: String) -> String { self == .zh ? zh : en }

    /// The language this run asked for: `--lang` on the command line, else the environment.
    /// Errors raised before or outside a command's own output use it.
    static let requested: Language = {
        let args = CommandLine.arguments
        for (i, a) in args.enumerated() {
            if a == "--lang", i + 1 < args.count, let l = Language(rawValue: args[i + 1]) { return l }
            if a.hasPrefix("--lang="), let l = Language(rawValue: String(a.dropFirst(7))) { return l }
        }
        return fromEnvironment()
    }()

    /// A problem's sentence in this language (`ProblemText`).
    func say(_ problem: Problem) -> String { ProblemText.message(problem, in: self == .zh ? .zh : .en) }
}

/// A failure that a command reports as problems, then exits with `exitCode`.
struct CommandFailure: Error {
    var problems: [Problem]
    var exitCode: Int32 = 2
    var json = false

    init(problems: [Problem], exitCode: Int32 = 2, json: Bool = false) {
        self.problems = problems
        self.exitCode = exitCode
        self.json = json
    }

    init(_ code: String, _ message: String, field: String? = nil, value: String? = nil, rule: String? = nil, exitCode: Int32 = 2, json: Bool = false) {
        self.init(problems: [Problem(code: code, message: message, field: field, value: value, rule: rule)], exitCode: exitCode, json: json)
    }

    func report() {
        if json {
            Console.out(JSONOutput.line(["errors": problems]))
        } else {
            for p in problems { Console.error("permit: " + Language.requested.say(p)) }
        }
    }
}

/// Writes to standard output and standard error without buffering surprises.
enum Console {
    static func out(_ text: String) {
        do {
            try FileHandle.standardOutput.write(contentsOf: Data((text + "\n").utf8))
        } catch {
            // The reader went away (`permit list | head`): stop as a tool killed by SIGPIPE would.
            exit(141)
        }
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static var isTerminal: Bool { isatty(STDOUT_FILENO) != 0 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
}

/// JSON output: sorted keys, no escaped slashes, one line per value for JSON Lines.
enum JSONOutput {
    static func line<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    static func pretty<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }
}

/// Reads a file argument, or standard input for "-".
enum InputFile {
    static func read(_ path: String) throws -> Data {
        if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("input.unreadable", "cannot read \(path)", field: "file", value: path, rule: "the file must exist and be readable")
        }
        return data
    }

    /// Lines split on LF with one CR before it stripped; nothing else is trimmed (Base45 contains
    /// the space). Split as bytes: Swift's String treats "\r\n" as one Character.
    static func lines(_ data: Data) -> [String] {
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> String in
            let bytes = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
            return String(decoding: bytes, as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}
