import Foundation
import PermitTestSupport
import XCTest
@testable import PermitModel

/// `CanonicalJSON` must write exactly Foundation's `JSONEncoder` bytes (sorted keys, unescaped
/// slashes, dates in Unix milliseconds): digests of these bytes are signed and stored, so the
/// faster encoder is held to Foundation's as the reference, value by value.
final class CanonicalJSONTests: XCTestCase {
    private let reference: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    private func assertSameBytes<T: Encodable>(_ value: T, _ message: @autoclosure () -> String = "", line: UInt = #line) throws {
        let expected = try reference.encode(value)
        let actual = CanonicalJSON.encode(value)
        XCTAssertEqual(String(decoding: actual, as: UTF8.self), String(decoding: expected, as: UTF8.self), message(), line: line)
    }

    /// Every application of the example fleet (valid or not) and the typical fixture.
    func testApplicationsMatchFoundation() throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("examples/applications.jsonl"))
        let applications = ApplicationFile.parse(data).compactMap(\.application) + [try loadFixture()]
        XCTAssertGreaterThan(applications.count, 150)
        for app in applications {
            try assertSameBytes(app.normalized(), app.reference)
            XCTAssertEqual(app.canonicalJSON(), try reference.encode(app.normalized()))
            // Issuance reads the stored document back through the fast reader: the same value as JSONDecoder's.
            let stored = app.canonicalJSON()
            XCTAssertEqual(ApplicationFile.decodeApplication(stored).application, try JSONDecoder().decode(Application.self, from: stored), app.reference)
            XCTAssertEqual(try Application.decodeStored(stored), app.normalized(), app.reference)
        }
    }

    private struct Sample: Codable {
        enum Kind: String, Codable { case alpha, beta = "β" }
        struct Inner: Codable { var name: String; var count: Int?; var tags: [String] }
        var text: String
        var optionalText: String?
        var integer: Int
        var wide: Int64
        var unsigned: UInt64
        var small: Int8
        var real: Double
        var single: Float
        var flag: Bool
        var date: Date
        var blob: Data
        var kind: Kind
        var inner: Inner
        var inners: [Inner]
        var table: [String: String]
        var numbers: [Int: [Double]]
        var nested: [[String?]]
        var nothing: String?
    }

    private var generator = SplitMix(seed: 0x43_4A_53_4F_4E)

    private func text() -> String {
        // ASCII with every control character, slashes, quotes and backslashes; CJK; combining marks; astral.
        let pool: [Unicode.Scalar] = (0...0x7f).compactMap(Unicode.Scalar.init) + ["é", "\u{301}", "中", "国", "\u{2028}", "\u{feff}", "😀", "𠀀"]
        return String(String.UnicodeScalarView((0..<generator.next(upTo: 12)).map { _ in pool[generator.next(upTo: pool.count)] }))
    }

    private func key() -> String {
        let pool = Array("aAbBzZ_019-é中 ")
        return String((0..<(1 + generator.next(upTo: 4))).map { _ in pool[generator.next(upTo: pool.count)] })
    }

    private func real() -> Double {
        switch generator.next(upTo: 5) {
        case 0: return Double(Int(generator.next(upTo: 2_000_000)) - 1_000_000)
        case 1: return Double(bitPattern: generator.next() & 0x7fef_ffff_ffff_ffff) * (generator.next(upTo: 2) == 0 ? 1 : -1)
        case 2: return Double(generator.next(upTo: 1_000_000)) / 1000
        case 3: return 1e-7 * Double(generator.next(upTo: 1000))
        default: return 1e15 * Double(generator.next(upTo: 100_000))
        }
    }

    private func inner() -> Sample.Inner {
        Sample.Inner(name: text(), count: generator.next(upTo: 2) == 0 ? nil : Int(generator.next(upTo: 1000)),
                     tags: (0..<generator.next(upTo: 3)).map { _ in text() })
    }

    private func sample() -> Sample {
        Sample(text: text(), optionalText: generator.next(upTo: 2) == 0 ? nil : text(),
               integer: Int(bitPattern: UInt(generator.next())), wide: Int64.min + Int64(generator.next(upTo: 3)),
               unsigned: UInt64.max - UInt64(generator.next(upTo: 3)), small: Int8(truncatingIfNeeded: generator.next()),
               real: real(), single: Float(Double(Int(generator.next(upTo: 2_000_000)) - 1_000_000) / 997), flag: generator.next(upTo: 2) == 0,
               date: Date(timeIntervalSince1970: Double(generator.next(upTo: 4_000_000_000)) + Double(generator.next(upTo: 1_000_000)) / 1e6),
               blob: Data((0..<generator.next(upTo: 9)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }),
               kind: generator.next(upTo: 2) == 0 ? .alpha : .beta, inner: inner(), inners: (0..<generator.next(upTo: 3)).map { _ in inner() },
               table: Dictionary((0..<generator.next(upTo: 6)).map { _ in (key(), text()) }, uniquingKeysWith: { a, _ in a }),
               numbers: Dictionary((0..<generator.next(upTo: 4)).map { _ in (Int(generator.next(upTo: 200)) - 100, [real()]) }, uniquingKeysWith: { a, _ in a }),
               nested: [[nil, text()], []], nothing: nil)
    }

    /// 3,000 random values covering strings with every control character, keys that only sort
    /// the same under byte order, integers at their limits, doubles across the exponent range,
    /// fractional dates, data, enums, optionals, nested arrays and integer-keyed dictionaries.
    func testRandomValuesMatchFoundation() throws {
        for i in 0..<3000 {
            try assertSameBytes(sample(), "sample \(i)")
        }
        try assertSameBytes(["b": "1", "B": "2", "a_": "3", "aA": "4", "item10": "5", "item9": "6", "é": "7", "e": "8"])
        try assertSameBytes("a top-level fragment / with a slash")
        try assertSameBytes([Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -1.5)])
    }

    func testNonFiniteNumbersAreErrors() {
        XCTAssertThrowsError(try CanonicalJSON.encoded([Double.nan]))
        XCTAssertThrowsError(try CanonicalJSON.encoded(["x": Double.infinity]))
    }
}
