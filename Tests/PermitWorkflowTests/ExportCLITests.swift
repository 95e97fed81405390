import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import PermitTestSupport

/// `permit export` and `permit show --qr` run as the built binary, judged by independent tools:
/// zbarimg (zbar-tools) must read back exactly the `--format payload` text from the QR PNG, the
/// phone card and the rasterised PDF; pdfinfo/pdftotext/pdftoppm (poppler-utils) check the paper.
/// Two permits are issued once through the CLI (apply, approve) and shared by the tests, which
/// only read them.
final class ExportCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/debug/permit")
    static let examples = root.appendingPathComponent("examples/applications.jsonl")
    static let firm = "91330114MA24WY722X"
    static let plates = ["浙K5835R", "浙K5836R"]

    /// The shared data directory with two issued permits (330114000001, 330114000002) and one
    /// pending application (A000003).
    nonisolated(unsafe) static var shared: URL?
    nonisolated(unsafe) static var setUpFailure: String?

    var work: URL!
    var home: URL { Self.shared!.appendingPathComponent("data") }

    struct Run {
        var status: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
        func jsonLines() throws -> [[String: Any]] {
            try text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }
    }

    override func setUpWithError() throws {
        // A missing binary or a failed set-up is a failure, never a skip: a skipped suite proves nothing.
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw SetUpFailure("build the CLI first: swift build (looked for \(Self.binary.path))")
        }
        if Self.shared == nil && Self.setUpFailure == nil { try Self.issuePermits() }
        if let failure = Self.setUpFailure { throw SetUpFailure("issuing the shared permits failed: \(failure)") }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("permit-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let work { try? FileManager.default.removeItem(at: work) }
    }

    override class func tearDown() {
        if let shared { try? FileManager.default.removeItem(at: shared) }
        shared = nil
        super.tearDown()
    }

    /// init, one firm, a HEALTH approver; apply three loads of the first example (two plates and
    /// a third reference left pending), approve the first two: the last approval issues each.
    static func issuePermits() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("permit-export-shared-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let home = dir.appendingPathComponent("data")
        func step(_ args: String...) throws {
            let r = try run(args, home: home)
            if r.status != 0 {
                setUpFailure = "permit \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)\(r.text)"
                throw SetUpFailure(setUpFailure!)
            }
        }
        try step("init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局", "--name-en", "Qiantang District Transport Bureau",
                 "--phone", "0571-86000000")
        let admin = home.appendingPathComponent("admin-key.pem").path
        try step("applicant", "add", "--credit-code", firm, "--name", "杭州钱塘物流有限公司",
                 "--generate", dir.appendingPathComponent("firm.pem").path, "--admin-key", admin)
        try step("approver", "add", "--department", "HEALTH", "--name", "张卫",
                 "--generate", dir.appendingPathComponent("health.pem").path, "--admin-key", admin)
        let first = try String(contentsOf: examples, encoding: .utf8).split(separator: "\n")[0]
        let lines = [String(first),
                     first.replacingOccurrences(of: "QT-2026-000001", with: "QT-2026-000002").replacingOccurrences(of: plates[0], with: plates[1]),
                     first.replacingOccurrences(of: "QT-2026-000001", with: "QT-2026-000003").replacingOccurrences(of: plates[0], with: "浙K5837R")]
        let file = dir.appendingPathComponent("apps.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        try step("apply", "--key", dir.appendingPathComponent("firm.pem").path, file.path)
        try step("approve", "--department", "HEALTH", "--key", dir.appendingPathComponent("health.pem").path, "A000001", "A000002")
        shared = dir
    }

    static func run(_ arguments: [String], home: URL) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PERMIT_HOME"] = home.path
        env["PERMIT_NOW"] = "2026-11-30T09:00:00+08:00"
        env["LANG"] = "C.UTF-8"
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (outData, errData) = readBoth(out, err)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
    }

    @discardableResult
    func permit(_ arguments: String...) throws -> Run { try Self.run(arguments, home: home) }

    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    /// The `--format payload` text of a permit, without the newline printed after it.
    func payload(_ id: String) throws -> String {
        let r = try permit("export", id, "--format", "payload")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.text.hasPrefix("FP1:"), r.text)
        return String(r.text.dropLast(r.text.hasSuffix("\n") ? 1 : 0))
    }

    func export(_ id: String, _ format: String, _ extra: String...) throws -> String {
        let file = path("\(id)-\(format)-\(extra.joined())")
        let r = try Self.run(["export", id, "--format", format, "-o", file] + extra, home: home)
        XCTAssertEqual(r.status, 0, r.stderr)
        return file
    }

    // MARK: one permit, every format

    func testQRPNGDecodesToThePayloadAtEveryLevel() throws {
        let expected = try payload("330114000001")
        XCTAssertEqual(try Tool.zbarimg(try export("330114000001", "qr-png")), expected)
        for level in ["L", "M", "H"] {
            XCTAssertEqual(try Tool.zbarimg(try export("330114000001", "qr-png", "--ecc", level, "--module-size", "3")), expected, level)
        }
        // By application ID, the same permit.
        XCTAssertEqual(try Tool.zbarimg(try export("A000001", "qr-png")), expected)
    }

    func testQRPNGModuleSizeSetsThePixelSize() throws {
        let file = try export("330114000001", "qr-png", "--module-size", "2")
        let png = try Data(contentsOf: URL(fileURLWithPath: file))
        let bytes = [UInt8](png.prefix(24))
        let width = bytes[16...19].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width % 2, 0)
        XCTAssertEqual((width / 2 - 8 - 17) % 4, 0, "a QR side is 17 + 4 × version modules, plus 2 × 4 quiet")
    }

    func testPhoneCardDecodesToThePayload() throws {
        let expected = try payload("330114000002")
        let file = try export("330114000002", "png")
        XCTAssertEqual(try Tool.zbarimg(file), expected)
        XCTAssertEqual(try Tool.zbarimg(try export("330114000002", "png", "--lang", "en")), expected)
    }

    func testPaperPermitIsA4LandscapeWithTitlePlateAndAReadableCode() throws {
        let expected = try payload("330114000001")
        let file = try export("330114000001", "pdf")
        let info = try Tool.run("pdfinfo", package: "poppler-utils", [file]).text
        let size = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("Page size:") }, info)
        let numbers = size.split(whereSeparator: { $0 == " " }).compactMap { Double($0) }
        XCTAssertEqual(numbers.count, 2, String(size))
        XCTAssertEqual(numbers[0], 841.89, accuracy: 0.5, "297 mm wide: A4 landscape")
        XCTAssertEqual(numbers[1], 595.28, accuracy: 0.5, "210 mm high")
        XCTAssertTrue(size.contains("A4"), String(size))
        XCTAssertTrue(info.contains("Pages:           1"), info)

        let text = try Tool.run("pdftotext", package: "poppler-utils", ["-layout", file, "-"]).text
        for needle in ["重点物资运输车辆通行证", Self.plates[0], "330114000001", "卫生健康局", "防疫物资", "金波", "330726********2736",
                       "152****5247", "浙江省杭州市余杭区", "江苏省徐州市沛县", "下沙街道福城路291号", "2026年12月11日", "杭州市钱塘区交通运输局", "0571-86000000"] {
            XCTAssertTrue(text.contains(needle), "pdftotext lacks \(needle):\n\(text)")
        }
        XCTAssertFalse(text.contains("330726196612242736"), "the full ID number must not be printed")

        let prefix = path("page")
        _ = try Tool.run("pdftoppm", package: "poppler-utils", ["-r", "150", "-png", file, prefix])
        let pages = try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.hasPrefix("page") && $0.hasSuffix(".png") }
        XCTAssertEqual(pages.count, 1, "\(pages)")
        XCTAssertEqual(try Tool.zbarimg(work.appendingPathComponent(pages[0]).path), expected)
    }

    func testEnglishPaperUsesEnglishNames() throws {
        let file = try export("330114000001", "pdf", "--lang", "en")
        let text = try Tool.run("pdftotext", package: "poppler-utils", ["-layout", file, "-"]).text
        for needle in ["Health Bureau", "Epidemic-prevention supplies", "杭州市钱塘区交通运输局", "2026-12-11", "driver",
                       "single", "6.1 t"] {
            XCTAssertTrue(text.contains(needle), "pdftotext lacks \(needle):\n\(text)")
        }
        XCTAssertFalse(text.contains("卫生健康局"), text)
    }

    func testSVGParsesAndHasAViewBox() throws {
        let r = try permit("export", "330114000001", "--format", "qr-svg")
        XCTAssertEqual(r.status, 0, r.stderr)
        final class Root: NSObject, XMLParserDelegate {
            var name: String?
            var viewBox: String?
            func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                if name == nil { name = element; viewBox = attributes["viewBox"] }
            }
        }
        let root = Root()
        let parser = XMLParser(data: r.stdout)
        parser.delegate = root
        XCTAssertTrue(parser.parse(), String(describing: parser.parserError))
        XCTAssertEqual(root.name, "svg")
        let box = try XCTUnwrap(root.viewBox).split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(box.count, 4)
        XCTAssertEqual(box[0...1], [0, 0])
        XCTAssertEqual(box[2], box[3])
        XCTAssertEqual((box[2] - 8 - 17) % 4, 0)
    }

    func testShowQRPrintsHalfBlocksUnderTheDetails() throws {
        let r = try permit("show", "330114000001", "--qr")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.text.contains(Self.plates[0]), r.text)
        let blockLines = r.text.split(separator: "\n").filter { $0.contains("▀") || $0.contains("▄") }
        XCTAssertGreaterThan(blockLines.count, 10, r.text)
        XCTAssertTrue(r.text.contains("█"))
        let inverted = try permit("show", "330114000001", "--qr", "--invert")
        XCTAssertEqual(inverted.status, 0)
        XCTAssertNotEqual(inverted.text, r.text)
        // No permit, no code: the details are shown, then a clear refusal.
        let pending = try permit("show", "A000003", "--qr")
        XCTAssertEqual(pending.status, 1)
        XCTAssertTrue(pending.stderr.contains("no permit"), pending.stderr)
    }

    // MARK: batch

    func testBatchWritesOneFilePerPermitNamedByNumber() throws {
        let dir = path("out")
        let r = try permit("export", "--state", "issued", "--format", "pdf", "--out-dir", dir, "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "", "no progress bar when standard error is not a terminal")
        let lines = try r.jsonLines()
        XCTAssertEqual(lines.map { $0["index"] as? Int }, [0, 1])
        XCTAssertEqual(lines.map { $0["number"] as? String }, ["330114000001", "330114000002"])
        XCTAssertEqual(lines.compactMap { ($0["file"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent } },
                       ["330114000001.pdf", "330114000002.pdf"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["330114000001.pdf", "330114000002.pdf"])

        let qr = path("qr")
        XCTAssertEqual(try permit("export", "--state", "issued", "--format", "qr-png", "--out-dir", qr).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: qr).sorted(), ["330114000001.qr.png", "330114000002.qr.png"])
        XCTAssertEqual(try Tool.zbarimg(qr + "/330114000002.qr.png"), try payload("330114000002"))

        let text = path("txt")
        XCTAssertEqual(try permit("export", "--state", "issued", "--format", "payload", "--out-dir", text).status, 0)
        XCTAssertEqual(try String(contentsOfFile: text + "/330114000001.txt", encoding: .utf8), try payload("330114000001"))
    }

    func testBatchSinceFiltersOnTheIssueDayInChina() throws {
        let same = try permit("export", "--state", "issued", "--since", "2026-11-30", "--format", "qr-svg", "--out-dir", path("a"), "--json")
        XCTAssertEqual(try same.jsonLines().count, 2)
        let later = try permit("export", "--state", "issued", "--since", "2026-12-01", "--format", "qr-svg", "--out-dir", path("b"), "--json")
        XCTAssertEqual(later.status, 0)
        XCTAssertEqual(try later.jsonLines().count, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("b")), [])
    }

    func testBatchReportsAFailedPermitAndExits1AfterDoingTheOthers() throws {
        let dir = path("blocked")
        // A directory where the first permit's file should go: that write fails, the second succeeds.
        try FileManager.default.createDirectory(atPath: dir + "/330114000001.qr.svg", withIntermediateDirectories: true)
        let r = try permit("export", "--state", "issued", "--format", "qr-svg", "--out-dir", dir, "--json")
        XCTAssertEqual(r.status, 1, r.stderr)
        let lines = try r.jsonLines()
        XCTAssertEqual(lines.count, 2)
        let errors = try XCTUnwrap(lines[0]["errors"] as? [[String: Any]], r.text)
        XCTAssertEqual(errors.first?["code"] as? String, "export.unwritable")
        XCTAssertNil(lines[0]["file"])
        XCTAssertEqual((lines[1]["file"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent }, "330114000002.qr.svg")
    }

    // MARK: refusals

    func testRefusalsNameFieldValueAndRule() throws {
        func error(_ r: Run) throws -> [String: Any] {
            try XCTUnwrap((try r.jsonLines().first?["errors"] as? [[String: Any]])?.first, r.text + r.stderr)
        }
        let pending = try permit("export", "A000003", "--format", "pdf", "-o", path("x.pdf"), "--json")
        XCTAssertEqual(pending.status, 1)
        XCTAssertEqual(try error(pending)["code"] as? String, "export.notIssued")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.pdf")))

        let ecc = try permit("export", "330114000001", "--format", "qr-png", "--ecc", "X", "-o", path("x.png"), "--json")
        XCTAssertEqual(ecc.status, 2)
        let e = try error(ecc)
        XCTAssertEqual(e["field"] as? String, "ecc")
        XCTAssertEqual(e["value"] as? String, "X")
        XCTAssertEqual(e["rule"] as? String, "one of L, M, Q, H")

        let size = try permit("export", "330114000001", "--format", "pdf", "--module-size", "4", "-o", path("x.pdf"), "--json")
        XCTAssertEqual(size.status, 2)
        XCTAssertEqual(try error(size)["field"] as? String, "module-size")

        let since = try permit("export", "--state", "issued", "--since", "2026-13-01", "--format", "pdf", "--out-dir", path("y"), "--json")
        XCTAssertEqual(since.status, 2)
        XCTAssertEqual(try error(since)["field"] as? String, "since")

        XCTAssertEqual(try permit("export", "--state", "pending", "--format", "pdf", "--out-dir", path("y")).status, 2)
        XCTAssertEqual(try permit("export", "--state", "issued", "--format", "pdf").status, 2, "no --out-dir")
        XCTAssertEqual(try permit("export", "--format", "pdf").status, 2, "no ID and no --state")
        XCTAssertEqual(try permit("export", "330114000001", "--format", "pdf", "--out-dir", path("y")).status, 2)
        XCTAssertEqual(try permit("export", "A000099", "--format", "payload").status, 2, "no such application")
    }

    func testBinaryToAPipeIsWritten() throws {
        // Standard output here is a pipe, not a terminal, so a binary format may go there.
        let r = try permit("export", "330114000001", "--format", "qr-png")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual([UInt8](r.stdout.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }
}

/// Both pipes read to the end, standard error on another thread, so neither can fill and block the child.
func readBoth(_ out: Pipe, _ err: Pipe) -> (Data, Data) {
    final class Box: @unchecked Sendable { var data = Data() }
    let box = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { box.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    return (outData, box.data)
}

/// The external judges, found on PATH; a missing one fails the test naming its Debian package.
enum Tool {
    struct Missing: Error, CustomStringConvertible {
        let tool: String
        let package: String
        var description: String { "\(tool) is not installed: install the Debian package \(package) (apt-get install \(package))" }
    }

    /// A judge that ran but did not agree: its exit status and what it said.
    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    struct Output {
        let status: Int32
        let stdout: Data
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    static func find(_ tool: String, package: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Missing(tool: tool, package: package)
    }

    @discardableResult
    static func run(_ tool: String, package: String, _ arguments: [String], allowFailure: Bool = false) throws -> Output {
        let process = Process()
        process.executableURL = try find(tool, package: package)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (outData, errData) = readBoth(out, err)
        process.waitUntilExit()
        let output = Output(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
        if !allowFailure && output.status != 0 {
            throw Failed(description: "\(tool) \(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)")
        }
        return output
    }

    /// The text of the one QR code zbarimg finds in the image, without zbarimg's final newline.
    static func zbarimg(_ file: String) throws -> String {
        let out = try run("zbarimg", package: "zbar-tools", ["--raw", "-q", file], allowFailure: true)
        guard out.status == 0 else { throw Failed(description: "zbarimg found no QR code in \(file) (exit \(out.status)): \(out.stderr)") }
        var text = out.text
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// A set-up step that failed: thrown from setUp, it fails the test.
struct SetUpFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
