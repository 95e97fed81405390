import Foundation
import XCTest

/// The repository's `Tests/Fixtures` folder (tests run from a source checkout).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

func fixtureJSON(_ path: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent(path)))
}

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}

/// Prints a suite's count in a form scripts/test collects: "vectors: NAME cases=N failures=F".
func reportVectors(_ name: String, cases: Int, failures: Int) {
    print("vectors: \(name) cases=\(cases) failures=\(failures)")
}

/// A JSON value that keeps numbers as their literal text, so that big integers and floats can
/// be compared exactly with CBOR values.
indirect enum LiteralJSON: Equatable {
    case number(String), string(String), bool(Bool), null, array([LiteralJSON]), object([(String, LiteralJSON)])

    static func == (a: LiteralJSON, b: LiteralJSON) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)), let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    static func parse(_ text: String) -> LiteralJSON? {
        var p = Parser(chars: Array(text.unicodeScalars))
        let v = p.value()
        p.skip()
        return p.i == p.chars.count ? v : nil
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        var i = 0
        mutating func skip() { while i < chars.count, " \n\r\t".unicodeScalars.contains(chars[i]) { i += 1 } }
        mutating func value() -> LiteralJSON? {
            skip()
            guard i < chars.count else { return nil }
            switch chars[i] {
            case "{":
                i += 1; var pairs: [(String, LiteralJSON)] = []
                skip(); if chars[i] == "}" { i += 1; return .object(pairs) }
                while true {
                    skip(); guard case .string(let k)? = value() else { return nil }
                    skip(); guard chars[i] == ":" else { return nil }; i += 1
                    guard let v = value() else { return nil }
                    pairs.append((k, v)); skip()
                    if chars[i] == "," { i += 1; continue }
                    if chars[i] == "}" { i += 1; return .object(pairs) }
                    return nil
                }
            case "[":
                i += 1; var items: [LiteralJSON] = []
                skip(); if chars[i] == "]" { i += 1; return .array(items) }
                while true {
                    guard let v = value() else { return nil }
                    items.append(v); skip()
                    if chars[i] == "," { i += 1; continue }
                    if chars[i] == "]" { i += 1; return .array(items) }
                    return nil
                }
            case "\"":
                i += 1; var s = String.UnicodeScalarView()
                while chars[i] != "\"" {
                    if chars[i] == "\\" {
                        i += 1
                        switch chars[i] {
                        case "n": s.append("\n"); case "t": s.append("\t"); case "r": s.append("\r")
                        case "b": s.append("\u{8}"); case "f": s.append("\u{c}")
                        case "u":
                            var code = UInt32(String(String.UnicodeScalarView(chars[(i + 1)...(i + 4)])), radix: 16)!
                            i += 4
                            if (0xd800..<0xdc00).contains(code), chars[i + 1] == "\\", chars[i + 2] == "u" {
                                let low = UInt32(String(String.UnicodeScalarView(chars[(i + 3)...(i + 6)])), radix: 16)!
                                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                                i += 6
                            }
                            s.append(Unicode.Scalar(code)!)
                        default: s.append(chars[i])
                        }
                    } else {
                        s.append(chars[i])
                    }
                    i += 1
                }
                i += 1
                return .string(String(s))
            case "t": i += 4; return .bool(true)
            case "f": i += 5; return .bool(false)
            case "n": i += 4; return .null
            default:
                let start = i
                while i < chars.count, "+-0123456789.eE".unicodeScalars.contains(chars[i]) { i += 1 }
                return .number(String(String.UnicodeScalarView(chars[start..<i])))
            }
        }
    }
}
