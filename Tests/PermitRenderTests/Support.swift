import Foundation
import PermitRender
import PermitTestSupport
import XCTest


enum Fixtures {
    static let base45Alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")

    /// "FP1:" + `count` random Base45 characters: what a signed, compressed permit looks like to
    /// the QR encoder (compressed signed bytes are incompressible noise).
    static func payload(base45Characters count: Int, seed: UInt64) -> String {
        var rng = SplitMix(seed: seed)
        var s = "FP1:"
        for _ in 0..<count { s.append(base45Alphabet[Int(rng.next() % 45)]) }
        return s
    }

    /// A typical permit's payload: two crew, short cargo text, no addresses (~520 characters).
    static let typicalPayload = payload(base45Characters: 516, seed: 17)
    /// The largest permit's payload (every field at its maximum): 1080 characters, a version-26
    /// code at level Q (version 26 at Q holds at most 1,094 alphanumeric characters).
    static let largestPayload = payload(base45Characters: 1076, seed: 27)

    static func permit(payload: String = typicalPayload, plate: String = "浙A12345", number: String = "330114000001",
                       ecc: QRErrorCorrection = .Q) -> PaperPermit {
        PaperPermit(
            number: number, plate: plate, plateColor: "黄色", vehicleType: "重型半挂牵引车",
            crew: [
                .init(name: "王建国", role: "驾驶员", maskedDocument: "330106********1234", maskedPhone: "138****5678"),
                .init(name: "李秀英", role: "押运员", maskedDocument: "330104********002X", maskedPhone: "139****1024"),
            ],
            cargoCategories: ["医疗物资与药品", "邮政快递"],
            cargoDescription: "医用防护服、口罩及快递包裹",
            weight: "18 吨",
            origin: .init(name: "浙江省杭州市钱塘区", address: "下沙街道学源街1158号钱塘物流园3号仓"),
            destination: .init(name: "江苏省苏州市吴江区", address: "松陵街道开平路300号"),
            via: ["浙江省嘉兴市", "江苏省苏州市"],
            validFrom: "2024年5月1日", validTo: "2024年5月30日", trips: "多次",
            issuingAuthority: "杭州市钱塘区交通运输局", verificationPhone: "0571-86921234",
            departments: ["卫生健康局", "邮政管理局"],
            conditions: ["严格执行车辆消毒", "按核定线路行驶"],
            issuedAt: "2024年4月30日 15:20",
            payload: payload, errorCorrection: ecc)
    }
}

/// Locates and runs the external tools the tests use as independent judges.
enum Tools {
    struct Missing: Error, CustomStringConvertible {
        let tool: String
        let package: String
        var description: String { "\(tool) is not installed: install the Debian package \(package) (apt-get install \(package))" }
    }

    static func find(_ tool: String, package: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Missing(tool: tool, package: package)
    }

    struct Output {
        let status: Int32
        let stdout: Data
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    static func run(_ tool: String, package: String, _ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = try find(tool, package: package)
        process.arguments = arguments
        let out = Pipe()
        // stderr goes to a file, so a chatty tool cannot block on a second full pipe.
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("PermitRenderTests-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        let err = try FileHandle(forWritingTo: errURL)
        defer { try? err.close() }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = (try? Data(contentsOf: errURL)) ?? Data()
        return Output(status: process.terminationStatus, stdout: stdout, stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Decodes every QR code in an image with zbar-tools' zbarimg (an independent decoder).
    /// One code's text, with the single trailing LF zbarimg adds removed.
    static func zbarimg(_ image: URL) throws -> String {
        let result = try run("zbarimg", package: "zbar-tools", ["--raw", "-q", "-Sdisable", "-Sqrcode.enable", image.path])
        XCTAssertEqual(result.status, 0, "zbarimg found no code in \(image.lastPathComponent): \(result.stderr)")
        var text = result.text
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Rasterises page 1 of a PDF with poppler's pdftoppm; returns the image file.
    static func rasterise(_ pdf: URL, dpi: Int, format: String, into dir: URL, extra: [String] = []) throws -> URL {
        let prefix = dir.appendingPathComponent("page-\(dpi)-\(format)")
        let result = try run("pdftoppm", package: "poppler-utils",
                             ["-r", "\(dpi)", "-\(format)", "-f", "1", "-l", "1", "-singlefile"] + extra + [pdf.path, prefix.path])
        XCTAssertEqual(result.status, 0, "pdftoppm failed: \(result.stderr)")
        return prefix.appendingPathExtension(format == "jpeg" ? "jpg" : format)
    }
}

class TemporaryDirectoryTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("PermitRenderTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func write(_ data: Data, _ name: String) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }
}
