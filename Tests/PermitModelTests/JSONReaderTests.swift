import Foundation
import XCTest
@testable import PermitModel

/// Application files and stored application documents go through one JSON reader
/// (`JSONValue.parse` and the lenient application reader).
final class JSONReaderTests: XCTestCase {
    func storedFixture() throws -> String {
        String(decoding: try loadFixture().canonicalJSON(), as: UTF8.self)
    }

    func unreadable(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [Problem] {
        do {
            _ = try Application.decodeStored(Data(text.utf8))
            XCTFail("read \(text)", file: file, line: line)
            return []
        } catch {
            return error.problems
        }
    }

    /// A stored document is held to the same rules as a file: an unknown member or a wrong type is
    /// a problem naming field, value and rule (`JSONDecoder` used to accept the first and report
    /// the second without them).
    func testStoredDocumentsAreReadByTheFileReader() throws {
        let stored = try storedFixture()
        XCTAssertEqual(try Application.decodeStored(Data(stored.utf8)), try loadFixture().normalized())

        let unknown = unreadable(stored.replacingOccurrences(of: "\"reference\":", with: "\"colour\":\"red\",\"reference\":"))
        XCTAssertEqual(codes(unknown), ["unknownField"])
        XCTAssertEqual(unknown.first?.field, "colour")
        XCTAssertNotNil(unknown.first?.rule)

        let wrongType = unreadable(stored.replacingOccurrences(of: "\"weightKg\":12000", with: "\"weightKg\":\"12000\""))
        XCTAssertEqual(wrongType, [Problem(code: "wrongType", message: "cargo.weightKg is a JSON string; it must be a whole number",
                                           field: "cargo.weightKg", value: "12000", rule: "JSON type a whole number")])
        do {
            _ = try Application.decodeStored(Data("{".utf8))
            XCTFail("read a truncated document")
        } catch {
            XCTAssertEqual(codes(error.problems), ["malformedJSON"])
            XCTAssertTrue(error.description.contains("not valid JSON"), error.description)
        }
    }

    /// The depth limit holds for files and stored documents alike.
    func testDepthLimit() {
        let deep = String(repeating: "[", count: 66) + String(repeating: "]", count: 66)
        let problems = unreadable(deep)
        XCTAssertEqual(codes(problems), ["malformedJSON"])
        XCTAssertTrue(problems[0].message.contains("nesting deeper than 64 levels"), problems[0].message)
        XCTAssertEqual(codes(ApplicationFile.parse(Data(deep.utf8), format: .json)[0].problems), ["malformedJSON"])
        let shallow = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try JSONValue.parse(Data(shallow.utf8)))
    }

    /// Auto-detection parses once: one object (with any whitespace around it) is JSON, several are JSON Lines.
    func testAutoDetection() throws {
        let stored = try storedFixture()
        let one = ApplicationFile.parse(Data(" \n\t\(stored)\r\n\n".utf8))
        XCTAssertEqual(one.count, 1)
        XCTAssertNil(one[0].line)
        XCTAssertEqual(one[0].application, try loadFixture().normalized())
        let lines = ApplicationFile.parse(Data("\(stored)\n\(stored)\n".utf8))
        XCTAssertEqual(lines.map(\.line), [1, 2])
        let broken = ApplicationFile.parse(Data("{\"reference\": \n".utf8))
        XCTAssertEqual(broken.map(\.line), [1])
        XCTAssertEqual(codes(broken[0].problems), ["malformedJSON"])
    }

    func testStrings() throws {
        XCTAssertEqual(try JSONValue.parse(Data(#""plain 中文""#.utf8)), .string("plain 中文"))
        XCTAssertEqual(try JSONValue.parse(Data(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#.utf8)), .string("a\"b\\c/d\né😀"))
        XCTAssertEqual(try JSONValue.parse(Data(#"{"k":"v","e":"","x":"\t"}"#.utf8)), .object(["k": .string("v"), "e": .string(""), "x": .string("\t")]))
        for bad in [[0x22, 0xff, 0x22], [0x22, 0x61, 0xc3, 0x22], Array(#""\ud800""#.utf8), Array(#""\udc00x""#.utf8), [0x22, 0x0a, 0x22], Array(#""abc"#.utf8)] as [[UInt8]] {
            XCTAssertThrowsError(try JSONValue.parse(bad), "\(bad)")
        }
        // A repeated member is refused, at the offset of its value.
        XCTAssertThrowsError(try JSONValue.parse(Data(#"{"a":1,"a":2}"#.utf8))) {
            XCTAssertEqual(($0 as? JSONParseError)?.description, #"duplicate member "a" at byte 11"#)
        }
    }
}
