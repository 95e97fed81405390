import Foundation
import PermitFoundation
import XCTest
@testable import PermitSeal

final class CBORTests: XCTestCase {
    /// Every example of RFC 8949 Appendix A: decodes to its stated value (or diagnostic), and each
    /// `roundtrip: true` case re-encodes byte for byte in deterministic encoding.
    func testAppendixAVectors() throws {
        let text = try String(contentsOf: fixtures.appendingPathComponent("vectors/cbor/appendix_a.json"), encoding: .utf8)
        guard case .array(let cases)? = LiteralJSON.parse(text) else { return XCTFail("cannot parse appendix_a.json") }
        var failures = 0
        var roundtrips = 0
        for case .object(let fields) in cases {
            let f = Dictionary(fields, uniquingKeysWith: { a, _ in a })
            guard case .string(let hex)? = f["hex"] else { continue }
            let bytes = hexBytes(hex)
            let item: CBOR
            do {
                item = try CBORDecoder(rejectDuplicateKeys: true).decode(bytes)
            } catch {
                failures += 1
                XCTFail("\(hex): \(error)")
                continue
            }
            if let decoded = f["decoded"] {
                if !matches(item, decoded) {
                    failures += 1
                    XCTFail("\(hex) decoded to \(CBORDiagnostic.describe(item)), expected \(decoded)")
                }
            } else if case .string(let diagnostic)? = f["diagnostic"] {
                // Indefinite-length byte strings are joined on decoding: compare the joined bytes.
                let expected = diagnostic == "(_ h'0102', h'030405')" ? "h'0102030405'" : diagnostic
                if CBORDiagnostic.describe(item) != expected {
                    failures += 1
                    XCTFail("\(hex) diagnostic \(CBORDiagnostic.describe(item)), expected \(expected)")
                }
            } else {
                failures += 1
                XCTFail("\(hex): vector has neither decoded nor diagnostic")
            }
            if f["roundtrip"] == .bool(true) {
                roundtrips += 1
                let again = CBOREncoder.encode(item)
                if again != bytes {
                    failures += 1
                    XCTFail("\(hex) re-encoded as \(Hex.encode(again))")
                }
            }
        }
        XCTAssertEqual(cases.count, 82)
        XCTAssertGreaterThan(roundtrips, 60)
        reportVectors("cbor-appendix-a", cases: cases.count, failures: failures)
    }

    private func matches(_ item: CBOR, _ json: LiteralJSON) -> Bool {
        switch (item, json) {
        case (.unsigned(let n), .number(let lit)): return String(n) == lit
        case (.negative(let n), .number(let lit)): return "-" + decimal(plusOne: n) == lit
        case (.float(let d), .number(let lit)):
            guard let expected = Double(lit) else { return false }
            return d == expected && d.sign == expected.sign
        case (.tagged(2, .bytes(let b)), .number(let lit)): return decimal(b) == lit
        case (.tagged(3, .bytes(let b)), .number(let lit)): return "-" + decimal(b, plusOne: true) == lit
        case (.text(let s), .string(let t)): return s == t
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { matches($0, $1) }
        case (.map(let pairs), .object(let fields)):
            return pairs.count == fields.count && zip(pairs, fields).allSatisfy { p, f in p.key == .text(f.0) && matches(p.value, f.1) }
        default: return false
        }
    }

    private func decimal(plusOne n: UInt64) -> String {
        n == .max ? "18446744073709551616" : String(n + 1)
    }

    /// The decimal text of a big-endian unsigned integer.
    private func decimal(_ bytes: [UInt8], plusOne: Bool = false) -> String {
        var digits = [UInt8](repeating: 0, count: 1)  // little-endian base-10 digits
        func mulAdd(_ m: Int, _ a: Int) {
            var carry = a
            for i in digits.indices {
                let v = Int(digits[i]) * m + carry
                digits[i] = UInt8(v % 10)
                carry = v / 10
            }
            while carry > 0 { digits.append(UInt8(carry % 10)); carry /= 10 }
        }
        for b in bytes { mulAdd(256, Int(b)) }
        if plusOne { mulAdd(1, 1) }
        return String(digits.reversed().map { Character(String($0)) })
    }

    func testDeterministicMapKeyOrder() {
        let map = CBOR.map([CBORPair(.int(-1), 1), CBORPair("a", 2), CBORPair(10, 3), CBORPair(1, 4), CBORPair(.int(-70001), 5)])
        // Sorted by encoded bytes: 0x01, 0x0a, 0x20 (-1), 0x3a.. (-70001), 0x61 "a".
        XCTAssertEqual(Hex.encode(CBOREncoder.encode(map)), "a501040a0320013a0001117005616102")
    }

    func testShortestIntegersAndLengths() {
        XCTAssertEqual(CBOREncoder.encode(.unsigned(23)), [0x17])
        XCTAssertEqual(CBOREncoder.encode(.unsigned(24)), [0x18, 24])
        XCTAssertEqual(CBOREncoder.encode(.unsigned(65536)), [0x1a, 0, 1, 0, 0])
        XCTAssertEqual(CBOREncoder.encode(.int(-70001)), [0x3a, 0, 1, 0x11, 0x70])
        XCTAssertEqual(CBOREncoder.encode(.bytes([UInt8](repeating: 7, count: 24))).prefix(2), [0x58, 24])
    }

    func testDeepNestingIsAnErrorNotACrash() {
        let depth = 100_000
        let bytes = [UInt8](repeating: 0x81, count: depth) + [0x00]
        XCTAssertThrowsError(try CBORDecoder().decode(bytes)) { error in
            XCTAssertEqual((error as? CBORError)?.kind, .tooDeep)
        }
        let indefinite = [UInt8](repeating: 0x9f, count: depth)
        XCTAssertThrowsError(try CBORDecoder(maxDepth: 1_000_000).decode(indefinite)) { error in
            XCTAssertEqual((error as? CBORError)?.kind, .indefiniteTooDeep)
        }
    }

    func testIndefiniteNestingLimitIsSixteen() throws {
        let ok = [UInt8](repeating: 0x9f, count: 16) + [UInt8](repeating: 0xff, count: 16)
        XCTAssertNoThrow(try CBORDecoder().decode(ok))
        let tooDeep = [UInt8](repeating: 0x9f, count: 17) + [UInt8](repeating: 0xff, count: 17)
        XCTAssertThrowsError(try CBORDecoder().decode(tooDeep)) { error in
            XCTAssertEqual((error as? CBORError)?.kind, .indefiniteTooDeep)
            XCTAssertEqual((error as? CBORError)?.offset, 16)
        }
    }

    func testBoundsErrorsCarryTheOffset() {
        func kind(_ hex: String) -> (CBORError.Kind, Int)? {
            do { _ = try CBORDecoder().decode(hexBytes(hex)); return nil } catch let e as CBORError { return (e.kind, e.offset) } catch { return nil }
        }
        XCTAssertEqual(kind("5bffffffffffffffff00")?.0, .lengthTooLarge)  // 2^64-1 byte string, 1 byte given
        XCTAssertEqual(kind("9bffffffffffffffff")?.0, .lengthTooLarge)    // 2^64-1 elements
        XCTAssertEqual(kind("8201")?.0, .lengthTooLarge)  // 2 elements declared, 1 byte left
        XCTAssertEqual(kind("820118")?.0, .truncated)     // the second element's argument is cut
        XCTAssertEqual(kind("820118")?.1, 3)
        XCTAssertEqual(kind("0102")?.0, .trailingBytes)
        XCTAssertEqual(kind("0102")?.1, 1)
        XCTAssertEqual(kind("a201020103")?.0, .duplicateKey)
        XCTAssertEqual(kind("a201020103")?.1, 3)
        XCTAssertEqual(kind("62c328")?.0, .invalidUTF8)
        XCTAssertEqual(kind("1c")?.0, .reservedAdditionalInfo)
        XCTAssertEqual(kind("ff")?.0, .unexpectedBreak)
        XCTAssertEqual(kind("5f4101610aff")?.0, .invalidChunk)  // text chunk inside a byte string
        XCTAssertEqual(kind("f801")?.0, .invalidSimpleValue)
    }

    func testEveryMajorTypeRoundTrips() throws {
        let item: CBOR = .map([
            CBORPair(0, .unsigned(.max)), CBORPair(1, .negative(.max)), CBORPair(2, .bytes([1, 2, 3])),
            CBORPair(3, "漢字 text"), CBORPair(4, [1, [2, 3]]), CBORPair(5, .tagged(18, .null)),
            CBORPair(6, .simple(99)), CBORPair(7, .bool(true)), CBORPair(8, .undefined), CBORPair(9, .float(-4.1)),
        ])
        XCTAssertEqual(try CBORDecoder().decode(CBOREncoder.encode(item)), item)
    }
}
