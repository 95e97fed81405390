import CZlib
import Foundation
import XCTest
@testable import PermitSeal

final class ZlibTests: XCTestCase {
    /// Our streams are ordinary zlib: the system's one-shot `uncompress` reads them.
    func testCompressedStreamsInflateWithSystemZlib() throws {
        let zlib = Zlib()
        for size in [0, 1, 400, 1500, 20_000] {
            let input: [UInt8] = (0..<size).map { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i * 7 + i / 13) }
            let packed = zlib.compress(input)
            XCTAssertEqual(packed[0] & 0x0f, 8, "zlib header: method deflate")
            XCTAssertEqual((UInt16(packed[0]) << 8 | UInt16(packed[1])) % 31, 0, "zlib header check bits")
            var out = [UInt8](repeating: 0, count: max(size, 1))
            var outLength = uLongf(out.count)
            XCTAssertEqual(uncompress(&out, &outLength, packed, uLong(packed.count)), Z_OK)
            XCTAssertEqual(Array(out.prefix(Int(outLength))), input)
            XCTAssertEqual(try zlib.inflate(packed), input)
        }
    }

    /// A stream from the system's `compress2` at level 9 with the default 32 KiB window inflates.
    func testInflatesOtherImplementationsStreams() throws {
        let input = Array(String(repeating: "重点物资运输车辆通行证 ", count: 50).utf8)
        var out = [UInt8](repeating: 0, count: Int(compressBound(uLong(input.count))))
        var length = uLongf(out.count)
        XCTAssertEqual(compress2(&out, &length, input, uLong(input.count), 9), Z_OK)
        XCTAssertEqual(try Zlib().inflate(Array(out.prefix(Int(length)))), input)
    }

    func testCompressionBombIsAnError() throws {
        let bomb = Zlib(maxOutput: 1 << 22).compress([UInt8](repeating: 0, count: 1 << 21))
        XCTAssertLessThan(bomb.count, 4096)
        XCTAssertThrowsError(try Zlib().inflate(bomb)) { XCTAssertEqual(($0 as? ZlibError)?.kind, .outputTooLarge) }
        let exactlyMax = Zlib().compress([UInt8](repeating: 1, count: 64 * 1024))
        XCTAssertEqual(try Zlib().inflate(exactlyMax).count, 64 * 1024)
    }

    func testTruncatedTrailingAndGarbage() {
        let zlib = Zlib()
        let packed = zlib.compress(Array("hello, checkpoint".utf8))
        XCTAssertThrowsError(try zlib.inflate(Array(packed.dropLast(3)))) { XCTAssertEqual(($0 as? ZlibError)?.kind, .truncated) }
        XCTAssertThrowsError(try zlib.inflate(packed + [0])) { XCTAssertEqual(($0 as? ZlibError)?.kind, .trailingBytes) }
        XCTAssertThrowsError(try zlib.inflate([0x12, 0x34, 0x56])) { XCTAssertEqual(($0 as? ZlibError)?.kind, .invalidStream) }
        XCTAssertThrowsError(try zlib.inflate([])) { XCTAssertEqual(($0 as? ZlibError)?.kind, .truncated) }
    }
}
