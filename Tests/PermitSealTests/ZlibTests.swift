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

    /// With a stored suffix the tail is copied verbatim into a stored block (random bytes do not
    /// survive Huffman coding verbatim), the head is still compressed, and the system's
    /// `uncompress` reads the whole stream back.
    func testStoredSuffixIsCopiedAndTheStreamInflates() throws {
        var generator = SystemRandomNumberGenerator()
        let zlib = Zlib()
        for (headSize, tailSize) in [(0, 1), (1, 64), (300, 64), (800, 64), (20_000, 64), (2_000, 2_000)] {
            let head: [UInt8] = Array(String(repeating: "车牌号 浙A12345 通行证 ", count: headSize / 20 + 1).utf8.prefix(headSize))
            let tail: [UInt8] = (0..<tailSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let input = head + tail
            let packed = zlib.compress(input, storedSuffix: tailSize)
            XCTAssertNotNil(packed.firstRange(of: tail), "head \(headSize), tail \(tailSize): the tail is stored verbatim")
            if headSize >= 300 {
                XCTAssertLessThan(packed.count, headSize / 2 + tailSize, "head \(headSize): the head is compressed")
            }
            var out = [UInt8](repeating: 0, count: input.count)
            var outLength = uLongf(out.count)
            XCTAssertEqual(uncompress(&out, &outLength, packed, uLong(packed.count)), Z_OK, "head \(headSize), tail \(tailSize)")
            XCTAssertEqual(Array(out.prefix(Int(outLength))), input)
            XCTAssertEqual(try zlib.inflate(packed), input)
        }
    }

    /// A split call leaves the reused stream at level 0; the next plain call must be level 9 again,
    /// byte for byte what a fresh stream produces.
    func testReusedStreamReturnsToLevelNine() {
        let input = Array(String(repeating: "重点物资运输车辆通行证 ", count: 30).utf8)
        let fresh = Zlib().compress(input)
        let reused = Zlib()
        _ = reused.compress(input, storedSuffix: 64)
        XCTAssertEqual(reused.compress(input), fresh)
        XCTAssertLessThan(fresh.count, input.count / 4)
        XCTAssertEqual(reused.compress(input, storedSuffix: 64), Zlib().compress(input, storedSuffix: 64))
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
