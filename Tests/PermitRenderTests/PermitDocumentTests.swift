import Foundation
import PermitRender
import XCTest

final class PermitDocumentTests: TemporaryDirectoryTestCase {
    func testPDFIsA4LandscapeOnePagePerPermit() throws {
        let url = dir.appendingPathComponent("permits.pdf")
        try PermitDocument.pdf([Fixtures.permit(), Fixtures.permit(plate: "苏E88888", number: "330114000002")], to: url)
        let info = try Tools.run("pdfinfo", package: "poppler-utils", [url.path])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.text.contains("Pages:           2"), info.text)
        let sizeLine = try XCTUnwrap(info.text.split(separator: "\n").first { $0.hasPrefix("Page size:") })
        // "Page size:      841.89 x 595.28 pts (A4)"
        let numbers = sizeLine.split(separator: " ").compactMap { Double($0) }
        XCTAssertEqual(numbers.count, 2, String(sizeLine))
        XCTAssertEqual(numbers[0], 841.89, accuracy: 1)
        XCTAssertEqual(numbers[1], 595.28, accuracy: 1)
    }

    /// The guilloche is one form XObject placed at every band of every page, not 63 waves of
    /// path data per page: a three-page PDF holds one form, and a page costs well under the
    /// 250 KB that drawing every wave took.
    func testGuillocheIsOneSharedFormXObject() throws {
        let one = try PermitDocument.pdf([Fixtures.permit()])
        let three = try PermitDocument.pdf((1...3).map { Fixtures.permit(number: "33011400000\($0)") })
        func forms(_ pdf: Data) -> Int {
            String(decoding: pdf, as: UTF8.self).components(separatedBy: "/Subtype /Form").count - 1
        }
        XCTAssertEqual(forms(one), 1)
        XCTAssertEqual(forms(three), 1)
        XCTAssertLessThan(one.count, 150_000, "one page is \(one.count) bytes")
        XCTAssertLessThan(three.count, one.count * 2, "pages after the first share the form and the fonts")
    }

    func testPDFTextIsExtractable() throws {
        let url = dir.appendingPathComponent("permit.pdf")
        try PermitDocument.pdf([Fixtures.permit()], to: url)
        let text = try Tools.run("pdftotext", package: "poppler-utils", [url.path, "-"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for expected in ["重点物资运输车辆通行证", "浙A12345", "330114000001", "王建国", "330106********1234",
                         "138****5678", "杭州市钱塘区交通运输局", "0571-86921234", "医疗物资与药品", "卫生健康局",
                         "编号", "车牌号码", "司乘人员", "运输物资", "起点", "终点", "途经", "有效期", "通行次数",
                         "发证机关", "核验电话", "审批部门", "附加条件"] {
            XCTAssertTrue(text.text.contains(expected), "pdftotext did not find \(expected)")
        }
    }

    func testPDFRoundTripsThroughPdftoppmAndZbarimg() throws {
        for (payload, ecc) in [(Fixtures.typicalPayload, QRErrorCorrection.Q), (Fixtures.largestPayload, .Q),
                               (Fixtures.typicalPayload, .M), (Fixtures.largestPayload, .M)] {
            let pdf = dir.appendingPathComponent("permit.pdf")
            try PermitDocument.pdf([Fixtures.permit(payload: payload, ecc: ecc)], to: pdf)
            let png = try Tools.rasterise(pdf, dpi: 150, format: "png", into: dir)
            XCTAssertEqual(try Tools.zbarimg(png), payload, "\(payload.count) characters at \(ecc.rawValue)")
        }
    }

    func testQRGeometryMeetsPrintMinimums() throws {
        for text in [Fixtures.typicalPayload, Fixtures.largestPayload, Fixtures.payload(base45Characters: 2400, seed: 3)] {
            let code = try QRCode(text: text, ecc: .Q)
            let p = PermitDocument.qrPlacement(for: code)
            XCTAssertGreaterThanOrEqual(p.widthMillimetres, 45, "version \(code.version)")
            XCTAssertGreaterThanOrEqual(p.moduleMillimetres, 0.33, "version \(code.version)")
            XCTAssertEqual(p.modulesWithQuietZone, code.width + 8)
            XCTAssertEqual(p.widthMillimetres, p.moduleMillimetres * Double(p.modulesWithQuietZone), accuracy: 1e-9)
            // Inside the page's frame.
            XCTAssertGreaterThan(p.x, 10)
            XCTAssertLessThan(p.x + p.widthMillimetres, 287)
            XCTAssertLessThan(p.y + p.widthMillimetres, 182)
        }
        // Version 27 is 133 modules with quiet zone: at least 133 × 0.33 = 43.9 mm, and the 45 mm floor.
        let v27 = try QRCode(text: Fixtures.payload(base45Characters: 1100, seed: 27), ecc: .Q)
        XCTAssertEqual(v27.version, 27)
        XCTAssertGreaterThanOrEqual(PermitDocument.qrPlacement(for: v27).widthMillimetres, 45)
    }

    /// Measures the printed code independently of the layout's arithmetic: poppler rasterises the
    /// page at 300 dpi to greyscale, and the dark modules' extent inside the white quiet zone gives
    /// the printed symbol's size.
    func testPrintedQRMeasuresAtLeast033MillimetresPerModule() throws {
        for payload in [Fixtures.typicalPayload, Fixtures.largestPayload] {
            let code = try QRCode(text: payload, ecc: .Q)
            let pdf = dir.appendingPathComponent("permit.pdf")
            try PermitDocument.pdf([Fixtures.permit(payload: payload)], to: pdf)
            let dpi = 300.0
            let prefix = dir.appendingPathComponent("grey")
            let r = try Tools.run("pdftoppm", package: "poppler-utils", ["-r", "300", "-gray", "-singlefile", pdf.path, prefix.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let page = try PGM(Data(contentsOf: prefix.appendingPathExtension("pgm")))
            XCTAssertEqual(Double(page.width), 297 / 25.4 * dpi, accuracy: 2)

            // Search the quiet-zone square the layout claims, shrunk by one module so that its
            // white card's border stays outside; every dark pixel in it belongs to the symbol.
            let p = PermitDocument.qrPlacement(for: code)
            let px = { (mm: Double) in Int((mm / 25.4 * dpi).rounded()) }
            var minX = Int.max, minY = Int.max, maxX = Int.min, maxY = Int.min
            for y in px(p.y + p.moduleMillimetres)..<px(p.y + p.widthMillimetres - p.moduleMillimetres) {
                for x in px(p.x + p.moduleMillimetres)..<px(p.x + p.widthMillimetres - p.moduleMillimetres)
                where page.pixel(x, y) < 128 {
                    minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
                }
            }
            XCTAssertLessThan(minX, maxX, "no QR code found where the layout placed it")
            let symbolMillimetres = Double(maxX - minX + 1 + maxY - minY + 1) / 2 / dpi * 25.4
            let perModule = symbolMillimetres / Double(code.width)
            XCTAssertGreaterThanOrEqual(perModule, 0.33, "version \(code.version): measured \(perModule) mm per module")
            XCTAssertGreaterThanOrEqual(perModule * Double(code.width + 8), 45, "version \(code.version)")
            XCTAssertEqual(perModule, p.moduleMillimetres, accuracy: 0.01)
            // The quiet zone is clear: the symbol starts four modules inside the placement.
            XCTAssertEqual(Double(minX) / dpi * 25.4, p.x + 4 * p.moduleMillimetres, accuracy: 0.2)
        }
    }

    func testEmptyPermitListIsRefusedAndNothingWritten() {
        let url = dir.appendingPathComponent("none.pdf")
        XCTAssertThrowsError(try PermitDocument.pdf([], to: url)) { XCTAssertEqual(($0 as? RenderError)?.code, "invalidArgument") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testTooLargePayloadIsRefusedAndNothingWritten() {
        let url = dir.appendingPathComponent("big.pdf")
        let permit = Fixtures.permit(payload: Fixtures.payload(base45Characters: 3000, seed: 9))
        XCTAssertThrowsError(try PermitDocument.pdf([permit], to: url)) { XCTAssertEqual(($0 as? RenderError)?.code, "textTooLarge") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testLongFieldsStillRender() throws {
        let permit = Self.longPermit()
        let pdf = dir.appendingPathComponent("long.pdf")
        try PermitDocument.pdf([permit], to: pdf)
        let png = try Tools.rasterise(pdf, dpi: 150, format: "png", into: dir)
        XCTAssertEqual(try Tools.zbarimg(png), Fixtures.largestPayload)
        let text = try Tools.run("pdftotext", package: "poppler-utils", [pdf.path, "-"]).text
        XCTAssertTrue(text.contains("欧阳娜娜娜娜"), "the third crew member is printed")
        let card = try write(PermitDocument.cardPNG(permit), "long-card.png")
        XCTAssertEqual(try Tools.zbarimg(card), Fixtures.largestPayload)
    }

    /// Every field at or beyond its limit.
    static func longPermit() -> PaperPermit {
        var permit = Fixtures.permit(payload: Fixtures.largestPayload)
        permit.cargoDescription = String(repeating: "冷链食品及医用物资", count: 3)
        permit.origin.address = String(repeating: "钱塘区下沙街道学源街1158号", count: 3)
        permit.via = ["浙江省嘉兴市", "江苏省苏州市", "上海市青浦区", "江苏省无锡市", "江苏省常州市"]
        permit.crew.append(.init(name: "欧阳娜娜娜娜", role: "押运员", maskedDocument: "****5678", maskedPhone: "186****0000"))
        permit.conditions = [String(repeating: "条", count: 20), String(repeating: "件", count: 20)]
        permit.issuingAuthority = "新疆维吾尔自治区伊犁哈萨克自治州交通运输局"
        permit.departments = ["交通运输局", "发展和改革局", "经济和信息化局", "公安局", "农业农村局", "商务局",
                              "卫生健康局", "市场监督管理局", "能源局", "邮政管理局"]
        permit.cargoCategories = ["民用爆炸物品与剧毒化学品", "危险货物", "工业原材料与零部件"]
        return permit
    }

    // MARK: phone card

    func testCardIsPortraitAndRoundTrips() throws {
        for payload in [Fixtures.typicalPayload, Fixtures.largestPayload] {
            for ecc in [QRErrorCorrection.M, .Q] {
                let card = try PermitDocument.cardPNG(Fixtures.permit(payload: payload, ecc: ecc))
                let (w, h) = try pngSize(card)
                XCTAssertEqual(w, 1080)
                XCTAssertEqual(h, 1920)
                let url = try write(card, "card.png")
                XCTAssertEqual(try Tools.zbarimg(url), payload, "\(payload.count) characters at \(ecc.rawValue)")
            }
        }
    }

    func testSmallCardStillRoundTrips() throws {
        let card = try PermitDocument.cardPNG(Fixtures.permit(payload: Fixtures.largestPayload), widthPixels: 720)
        XCTAssertEqual(try pngSize(card).0, 720)
        XCTAssertEqual(try Tools.zbarimg(write(card, "small.png")), Fixtures.largestPayload)
        XCTAssertThrowsError(try PermitDocument.cardPNG(Fixtures.permit(), widthPixels: 10))
    }

    /// Writes the samples committed under docs/ when PERMIT_RENDER_SAMPLES names a directory.
    func testWriteSamplesWhenAsked() throws {
        guard let out = ProcessInfo.processInfo.environment["PERMIT_RENDER_SAMPLES"] else { return }
        let base = URL(fileURLWithPath: out)
        try PermitDocument.pdf([Fixtures.permit(payload: Fixtures.largestPayload)], to: base.appendingPathComponent("permit-sample.pdf"))
        try PermitDocument.cardPNG(Fixtures.permit(payload: Fixtures.largestPayload))
            .write(to: base.appendingPathComponent("permit-card-sample.png"))
        try PermitDocument.pdf([Self.longPermit()], to: base.appendingPathComponent("permit-long.pdf"))
        try PermitDocument.cardPNG(Self.longPermit()).write(to: base.appendingPathComponent("permit-card-long.png"))
    }
}

/// A binary greyscale PGM (P5) as written by pdftoppm -gray.
struct PGM {
    let width: Int, height: Int
    private let bytes: [UInt8]
    private let offset: Int

    init(_ data: Data) throws {
        bytes = [UInt8](data)
        var fields: [Int] = []
        var i = 2
        guard bytes.starts(with: Array("P5".utf8)) else { throw RenderError(code: "test", message: "not a P5 PGM") }
        while fields.count < 3 {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
            var n = 0
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { n = n * 10 + Int(bytes[i] - 0x30); i += 1 }
            fields.append(n)
        }
        width = fields[0]; height = fields[1]
        offset = i + 1
        guard fields[2] == 255, bytes.count >= offset + width * height else { throw RenderError(code: "test", message: "bad PGM") }
    }

    func pixel(_ x: Int, _ y: Int) -> UInt8 { bytes[offset + y * width + x] }
}
