import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PermitRender
import XCTest

final class QRCodeTests: TemporaryDirectoryTestCase {
    func testErrorCorrectionParsesLetters() {
        XCTAssertEqual(QRErrorCorrection(parsing: "L"), .L)
        XCTAssertEqual(QRErrorCorrection(parsing: "m"), .M)
        XCTAssertEqual(QRErrorCorrection(parsing: "Q"), .Q)
        XCTAssertEqual(QRErrorCorrection(parsing: "H"), .H)
        XCTAssertNil(QRErrorCorrection(parsing: "X"))
        XCTAssertNil(QRErrorCorrection(parsing: ""))
        XCTAssertNil(QRErrorCorrection(parsing: "QQ"))
    }

    func testDefaultLevelIsQ() throws {
        XCTAssertEqual(try QRCode(text: "FP1:ABC").errorCorrection, .Q)
    }

    func testTypicalPermitFitsVersion17AtQInAlphanumericMode() throws {
        XCTAssertEqual(Fixtures.typicalPayload.count, 520)
        let code = try QRCode(text: Fixtures.typicalPayload, ecc: .Q)
        XCTAssertTrue(code.isAlphanumericMode)
        XCTAssertLessThanOrEqual(code.version, 17)
        XCTAssertEqual(code.width, 17 + 4 * code.version)
    }

    func testLargestPermitFitsVersion27AtQ() throws {
        let code = try QRCode(text: Fixtures.largestPayload, ecc: .Q)
        XCTAssertTrue(code.isAlphanumericMode)
        XCTAssertTrue((25...27).contains(code.version), "largest payload gave version \(code.version); the fixture should be a version 25–27 code")
        XCTAssertLessThanOrEqual(code.version, 27)
    }

    func testAlphanumericModeIsSmallerThanByteMode() throws {
        // 520 alphanumeric characters in 8-bit mode would need version 20 at Q, not 17.
        let an = try QRCode(text: Fixtures.typicalPayload, ecc: .Q)
        let lower = try QRCode(text: Fixtures.typicalPayload.lowercased(), ecc: .Q) // not alphanumeric any more
        XCTAssertFalse(lower.isAlphanumericMode)
        XCTAssertLessThan(an.version, lower.version)
    }

    func testHigherLevelNeedsLargerVersion() throws {
        let versions = try QRErrorCorrection.allCases.map { try QRCode(text: Fixtures.typicalPayload, ecc: $0).version }
        XCTAssertEqual(versions, versions.sorted())
        XCTAssertLessThan(versions.first!, versions.last!)
    }

    func testTooLargeTextNamesLengthAndLevel() {
        let text = Fixtures.payload(base45Characters: 1996, seed: 1) // 2000 characters > 1852 at H
        XCTAssertThrowsError(try QRCode(text: text, ecc: .H)) { error in
            let e = error as? RenderError
            XCTAssertEqual(e?.code, "textTooLarge")
            XCTAssertTrue(e?.message.contains("2000") ?? false, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("level H") ?? false, e?.message ?? "")
        }
        XCTAssertNoThrow(try QRCode(text: text, ecc: .L))
    }

    func testEmptyTextIsRefused() {
        XCTAssertThrowsError(try QRCode(text: "")) { XCTAssertEqual(($0 as? RenderError)?.code, "emptyText") }
    }

    func testNonAlphanumericTextStillEncodes() throws {
        let text = "通行证 permit 330114000001"
        let code = try QRCode(text: text, ecc: .M)
        XCTAssertFalse(code.isAlphanumericMode)
        let png = try write(code.png(moduleSize: 4), "utf8.png")
        XCTAssertEqual(try Tools.zbarimg(png), text)
    }

    func testFinderPatternsAndQuietZone() throws {
        let code = try QRCode(text: "FP1:HELLO")
        // The top-left finder: a dark 7×7 ring with a 3×3 core, a light ring between them.
        XCTAssertTrue(code.isDark(x: 0, y: 0))
        XCTAssertTrue(code.isDark(x: 6, y: 6))
        XCTAssertFalse(code.isDark(x: 1, y: 1))
        XCTAssertTrue(code.isDark(x: 3, y: 3))
        XCTAssertFalse(code.isDark(x: 7, y: 7))
        XCTAssertTrue(code.isDark(x: code.width - 1, y: 0))
        XCTAssertTrue(code.isDark(x: 0, y: code.width - 1))
        XCTAssertFalse(code.isDark(x: -1, y: 0))
        XCTAssertFalse(code.isDark(x: code.width, y: 0))
    }

    // MARK: PNG round trips through zbarimg

    func testPNGRoundTripsAtMAndQ() throws {
        for ecc in [QRErrorCorrection.M, .Q] {
            for (name, text) in [("typical", Fixtures.typicalPayload), ("largest", Fixtures.largestPayload)] {
                let code = try QRCode(text: text, ecc: ecc)
                let url = try write(code.png(moduleSize: 4), "\(name)-\(ecc.rawValue).png")
                XCTAssertEqual(try Tools.zbarimg(url), text, "\(name) payload at level \(ecc.rawValue)")
            }
        }
    }

    func testPNGModuleSizeGivesExactPixelSize() throws {
        let code = try QRCode(text: Fixtures.typicalPayload)
        let png = try code.png(moduleSize: 3)
        let (w, h) = try pngSize(png)
        XCTAssertEqual(w, (code.width + 8) * 3)
        XCTAssertEqual(h, w)
        XCTAssertThrowsError(try code.png(moduleSize: 0)) { XCTAssertEqual(($0 as? RenderError)?.code, "invalidArgument") }
    }

    func testPNGByPrintedWidthRecordsResolutionAndDecodes() throws {
        let code = try QRCode(text: Fixtures.largestPayload, ecc: .Q)
        let png = try code.png(widthMillimetres: 45, dpi: 300)
        let (w, _) = try pngSize(png)
        XCTAssertEqual(w, 531) // 45 mm / 25.4 × 300
        // pHYs: 300 dpi = 11811 pixels per metre, unit 1.
        let phys = try XCTUnwrap(png.range(of: Data("pHYs".utf8)))
        let body = [UInt8](png[phys.upperBound..<(phys.upperBound + 9)])
        XCTAssertEqual(body, [0, 0, 0x2E, 0x23, 0, 0, 0x2E, 0x23, 1])
        let url = try write(png, "45mm.png")
        XCTAssertEqual(try Tools.zbarimg(url), Fixtures.largestPayload)
        XCTAssertThrowsError(try code.png(widthMillimetres: 10, dpi: 72)) { // fewer pixels than modules
            XCTAssertEqual(($0 as? RenderError)?.code, "invalidArgument")
        }
    }

    // MARK: SVG

    func testSVGIsOnePathWithQuietZoneViewBoxAndMatchesTheMatrix() throws {
        let code = try QRCode(text: Fixtures.typicalPayload)
        let svg = code.svg()
        let collector = SVGCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(String(describing: parser.parserError))")
        XCTAssertEqual(collector.elements.filter { $0.name == "path" }.count, 1)
        let root = try XCTUnwrap(collector.elements.first)
        XCTAssertEqual(root.name, "svg")
        let side = code.width + 8
        XCTAssertEqual(root.attributes["viewBox"], "0 0 \(side) \(side)")
        XCTAssertEqual(root.attributes["shape-rendering"], "crispEdges")
        let rect = try XCTUnwrap(collector.elements.first { $0.name == "rect" })
        XCTAssertEqual(rect.attributes["fill"], "#ffffff")
        XCTAssertEqual(rect.attributes["width"], "\(side)")

        // Paint the path's runs and compare them module by module with the matrix.
        let d = try XCTUnwrap(collector.elements.first { $0.name == "path" }?.attributes["d"])
        var dark = Set<Int>()
        let scanner = Scanner(string: d)
        scanner.charactersToBeSkipped = nil
        while !scanner.isAtEnd {
            guard scanner.scanString("M") != nil, let x = scanner.scanInt(), scanner.scanString(" ") != nil,
                  let y = scanner.scanInt(), scanner.scanString("h") != nil, let run = scanner.scanInt(),
                  scanner.scanString("v1h-") != nil, scanner.scanInt() == run, scanner.scanString("z") != nil
            else { return XCTFail("unexpected path data near offset \(scanner.currentIndex.utf16Offset(in: d))") }
            for i in 0..<run { XCTAssertTrue(dark.insert(y * side + x + i).inserted, "overlapping runs") }
        }
        for y in 0..<side {
            for x in 0..<side {
                XCTAssertEqual(dark.contains(y * side + x), code.isDark(x: x - 4, y: y - 4), "module \(x),\(y)")
            }
        }
    }

    func testSVGWithPrintedWidth() throws {
        let svg = try QRCode(text: "FP1:X").svg(widthMillimetres: 45)
        XCTAssertTrue(svg.contains("width=\"45.00mm\""))
    }

    // MARK: Terminal

    func testTerminalHalfBlocksCoverTheMatrixAndQuietZone() throws {
        let code = try QRCode(text: Fixtures.typicalPayload)
        let side = code.width + 8
        for inverted in [false, true] {
            let lines = code.terminal(inverted: inverted).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            XCTAssertEqual(lines.count, (side + 1) / 2)
            for (row, line) in lines.enumerated() {
                XCTAssertEqual(line.count, side)
                for (x, ch) in line.enumerated() {
                    XCTAssertTrue("▀▄█ ".contains(ch), "unexpected \(ch)")
                    let top = ch == "▀" || ch == "█", bottom = ch == "▄" || ch == "█"
                    XCTAssertEqual(top != inverted, code.isDark(x: x - 4, y: 2 * row - 4), "top of \(x),\(row)")
                    let y = 2 * row + 1
                    // The padding half-row under an odd count is light.
                    XCTAssertEqual(bottom != inverted, y < side && code.isDark(x: x - 4, y: y - 4), "bottom of \(x),\(row)")
                }
            }
            // Quiet zone: the first two lines are blank (normal) or solid (inverted).
            XCTAssertEqual(String(lines[0]), String(repeating: inverted ? "█" : " ", count: side))
        }
        XCTAssertNotEqual(code.terminal(inverted: false), code.terminal(inverted: true))
    }
}

private final class SVGCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append((elementName, attributeDict))
    }
}

/// Width and height from a PNG's IHDR chunk.
func pngSize(_ png: Data) throws -> (Int, Int) {
    let b = [UInt8](png.prefix(24))
    guard b.count == 24, b[12...15] == [0x49, 0x48, 0x44, 0x52] else { throw RenderError(code: "test", message: "not a PNG") }
    func u32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
    return (u32(16), u32(20))
}
