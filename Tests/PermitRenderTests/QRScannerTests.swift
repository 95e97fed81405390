import Foundation
import PermitRender
import XCTest

final class QRScannerTests: TemporaryDirectoryTestCase {
    func testScansOurPNG() throws {
        let code = try QRCode(text: Fixtures.largestPayload, ecc: .Q)
        let url = try write(code.png(moduleSize: 3), "code.png")
        XCTAssertEqual(try QRScanner.scan(imageAt: url), [Fixtures.largestPayload])
    }

    func testScansTheCard() throws {
        let url = try write(PermitDocument.cardPNG(Fixtures.permit()), "card.png")
        XCTAssertEqual(try QRScanner.scan(imageAt: url), [Fixtures.typicalPayload])
    }

    func testScansAJPEGMadeByPoppler() throws {
        let pdf = dir.appendingPathComponent("permit.pdf")
        try PermitDocument.pdf([Fixtures.permit()], to: pdf)
        let jpeg = try Tools.rasterise(pdf, dpi: 150, format: "jpeg", into: dir)
        let bytes = try [UInt8](Data(contentsOf: jpeg).prefix(3))
        XCTAssertEqual(bytes, [0xFF, 0xD8, 0xFF], "pdftoppm did not write a JPEG")
        XCTAssertEqual(try QRScanner.scan(imageAt: jpeg), [Fixtures.typicalPayload])
    }

    func testScansAGreyscalePNGAndAGreyscaleJPEG() throws {
        let pdf = dir.appendingPathComponent("permit.pdf")
        try PermitDocument.pdf([Fixtures.permit(payload: Fixtures.largestPayload)], to: pdf)
        let grey = try Tools.rasterise(pdf, dpi: 200, format: "png", into: dir, extra: ["-gray"])
        XCTAssertEqual(try QRScanner.scan(imageAt: grey), [Fixtures.largestPayload])
        let greyJPEG = try Tools.rasterise(pdf, dpi: 200, format: "jpeg", into: dir, extra: ["-gray"])
        XCTAssertEqual(try QRScanner.scan(imageAt: greyJPEG), [Fixtures.largestPayload])
    }

    func testImageWithoutCodeGivesNothing() throws {
        // A page rendered without its QR code: the permit's form, and no symbol.
        let pdf = dir.appendingPathComponent("permit.pdf")
        try PermitDocument.pdf([Fixtures.permit()], to: pdf)
        let png = try Tools.rasterise(pdf, dpi: 50, format: "png", into: dir) // far too coarse to read
        XCTAssertEqual(try QRScanner.scan(imageAt: png), [])
        let grey = QRScanner.GreyImage(width: 64, height: 64, pixels: [UInt8](repeating: 255, count: 64 * 64))
        XCTAssertEqual(try QRScanner.scan(grey), [])
    }

    func testNotAnImageIsAClearError() throws {
        let url = try write(Data("%PDF-1.5\n".utf8), "permit.png")
        XCTAssertThrowsError(try QRScanner.scan(imageAt: url)) { error in
            XCTAssertEqual((error as? RenderError)?.code, "unsupportedImage")
            XCTAssertTrue((error as? RenderError)?.message.contains("permit.png") ?? false)
        }
        let empty = try write(Data(), "empty.jpg")
        XCTAssertThrowsError(try QRScanner.scan(imageAt: empty)) { XCTAssertEqual(($0 as? RenderError)?.code, "unsupportedImage") }
    }

    func testDamagedImagesAreClearErrors() throws {
        let png = try QRCode(text: "FP1:X").png(moduleSize: 4)
        let cutPNG = try write(png.prefix(60), "cut.png")
        XCTAssertThrowsError(try QRScanner.scan(imageAt: cutPNG)) { XCTAssertEqual(($0 as? RenderError)?.code, "imageDecodeFailed") }
        let cutJPEG = try write(Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46]), "cut.jpg")
        XCTAssertThrowsError(try QRScanner.scan(imageAt: cutJPEG)) { error in
            XCTAssertEqual((error as? RenderError)?.code, "imageDecodeFailed")
        }
    }

    func testMissingFileIsAnIOError() {
        XCTAssertThrowsError(try QRScanner.scan(imageAt: dir.appendingPathComponent("nope.png"))) {
            XCTAssertEqual(($0 as? RenderError)?.code, "io")
        }
    }
}
