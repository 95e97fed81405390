import Foundation

/// Any JSON value, decoded without a schema, so that wrong types can be reported as problems
/// instead of failing the whole document.
public enum JSONValue: Codable, Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number that is a whole number in Int range.
    case int(Int)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])

    /// Decodes any JSON value.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Encodes the value.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The JSON type's name, for messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// A short rendering of the value for `Problem.value`.
    var shortText: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .null: return "null"
        case .array: return "[…]"
        case .object: return "{…}"
        }
    }
}

/// Reads an `Application` out of a `JSONValue`, collecting a `Problem` for every missing
/// required member, member of the wrong JSON type, and unknown member (a misspelt optional
/// member would otherwise vanish silently). `null` counts as absent.
struct LenientApplicationReader {
    private(set) var problems: [Problem] = []

    static func read(_ value: JSONValue) -> (Application?, [Problem]) {
        var reader = LenientApplicationReader()
        let app = reader.application(value)
        return reader.problems.isEmpty ? (app, []) : (nil, reader.problems)
    }

    private mutating func wrongType(_ path: String, _ expected: String, _ v: JSONValue) {
        problems.append(Problem(code: ProblemCode.wrongType,
                                message: "\(path) is a JSON \(v.typeName); it must be \(expected)",
                                field: path, value: v.shortText, rule: "JSON type \(expected)"))
    }

    private mutating func object(_ v: JSONValue?, _ path: String, keys: [String], required: Bool = true) -> [String: JSONValue]? {
        guard let v, v != .null else {
            if required { problems.append(.required(path)) }
            return nil
        }
        guard case .object(let o) = v else { wrongType(path, "an object", v); return nil }
        // Sorted only when something is unknown, so that the problems come in a stable order.
        for key in o.keys.contains(where: { !keys.contains($0) }) ? o.keys.sorted() : [] where !keys.contains(key) {
            let f = path.isEmpty ? key : "\(path).\(key)"
            problems.append(Problem(code: ProblemCode.unknownField, message: "\(f) is not a field of an application",
                                    field: f, rule: "only the fields of application.schema.json"))
        }
        return o
    }

    private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func string(_ o: [String: JSONValue]?, _ key: String, _ path: String, required: Bool = true) -> String? {
        guard let o else { return nil }
        let f = join(path, key)
        guard let v = o[key], v != .null else {
            if required { problems.append(.required(f)) }
            return nil
        }
        guard case .string(let s) = v else { wrongType(f, "a string", v); return nil }
        return s
    }

    private mutating func strings(_ o: [String: JSONValue]?, _ key: String, _ path: String, required: Bool = true) -> [String]? {
        guard let o else { return nil }
        let f = join(path, key)
        guard let v = o[key], v != .null else {
            if required { problems.append(.required(f)) }
            return nil
        }
        guard case .array(let items) = v else { wrongType(f, "an array of strings", v); return nil }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            if case .string(let s) = item { out.append(s) } else { wrongType("\(f)[\(i)]", "a string", item) }
        }
        return out
    }

    private mutating func application(_ v: JSONValue) -> Application? {
        guard case .object = v else {
            problems.append(Problem(code: ProblemCode.wrongType, message: "the item is a JSON \(v.typeName); an application is an object",
                                    value: v.shortText, rule: "JSON type object"))
            return nil
        }
        guard let top = object(v, "", keys: ["reference", "applicant", "vehicle", "crew", "cargo", "route", "validity", "trips"]) else {
            return nil
        }
        let reference = string(top, "reference", "")

        let ap = object(top["applicant"], "applicant", keys: ["name", "creditCode", "contact", "phone"])
        let applicant = (string(ap, "name", "applicant"), string(ap, "creditCode", "applicant"),
                         string(ap, "contact", "applicant"), string(ap, "phone", "applicant"))

        let ve = object(top["vehicle"], "vehicle", keys: ["plate", "plateColor", "type"])
        let vehicle = (string(ve, "plate", "vehicle"), string(ve, "plateColor", "vehicle"),
                       string(ve, "type", "vehicle", required: false))

        var crew: [Application.CrewMember] = []
        if let c = top["crew"], c != .null {
            if case .array(let members) = c {
                for (i, m) in members.enumerated() {
                    let path = "crew[\(i)]"
                    let o = object(m, path, keys: ["name", "idNumber", "phone", "role", "documentType"])
                    let fields = (string(o, "name", path), string(o, "idNumber", path), string(o, "phone", path),
                                  string(o, "role", path), string(o, "documentType", path, required: false))
                    if let name = fields.0, let id = fields.1, let phone = fields.2, let role = fields.3 {
                        crew.append(.init(name: name, idNumber: id, phone: phone, role: role, documentType: fields.4))
                    }
                }
            } else {
                wrongType("crew", "an array of objects", c)
            }
        } else {
            problems.append(.required("crew"))
        }

        let ca = object(top["cargo"], "cargo", keys: ["categories", "description", "weightKg"])
        let categories = strings(ca, "categories", "cargo")
        let description = string(ca, "description", "cargo")
        var weight: Int?
        if let ca, let w = ca["weightKg"], w != .null {
            if case .int(let i) = w { weight = i } else { wrongType("cargo.weightKg", "a whole number", w) }
        }

        let ro = object(top["route"], "route", keys: ["origin", "destination", "via"])
        let origin = place(ro?["origin"], "route.origin", present: ro != nil)
        let destination = place(ro?["destination"], "route.destination", present: ro != nil)
        let via = strings(ro, "via", "route", required: false)

        let va = object(top["validity"], "validity", keys: ["from", "to"])
        let from = string(va, "from", "validity"), to = string(va, "to", "validity")
        let trips = string(top, "trips", "")

        guard problems.isEmpty, let reference, let an = applicant.0, let ac = applicant.1, let acon = applicant.2,
              let aph = applicant.3, let plate = vehicle.0, let color = vehicle.1, let categories, let description,
              let origin, let destination, let from, let to, let trips else { return nil }
        return Application(reference: reference,
                           applicant: .init(name: an, creditCode: ac, contact: acon, phone: aph),
                           vehicle: .init(plate: plate, plateColor: color, type: vehicle.2),
                           crew: crew,
                           cargo: .init(categories: categories, description: description, weightKg: weight),
                           route: .init(origin: origin, destination: destination, via: via),
                           validity: .init(from: from, to: to), trips: trips)
    }

    private mutating func place(_ v: JSONValue?, _ path: String, present: Bool) -> Application.Place? {
        guard present else { return nil }
        let o = object(v, path, keys: ["county", "address"])
        guard let county = string(o, "county", path) else { return nil }
        return Application.Place(county: county, address: string(o, "address", path, required: false))
    }
}

/// Why a text is not JSON, with the byte offset.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public var offset: Int
    public var detail: String
    public var description: String { "\(detail) at byte \(offset)" }
}

extension JSONValue {
    /// Parses RFC 8259 JSON directly into a `JSONValue`. Much cheaper than decoding `JSONValue`
    /// through `Codable`, which tries each type in turn and throws for every miss; firms send
    /// fleets of thousands of lines.
    public static func parse<Bytes: Sequence<UInt8>>(_ data: Bytes, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        var p = JSONParser(bytes: Array(data), maxDepth: maxDepth)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw JSONParseError(offset: p.i, detail: "unexpected data after the JSON value") }
        return value
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var i = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
    }

    func fail(_ detail: String) -> JSONParseError { JSONParseError(offset: i, detail: detail) }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var object: [String: JSONValue] = [:]
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let key = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                let memberStart = i
                // One hash lookup: insert, and look at what was there only afterwards.
                if object.updateValue(try value(depth: depth + 1), forKey: key) != nil {
                    throw JSONParseError(offset: memberStart, detail: "duplicate member \"\(key)\"")
                }
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end of input in an object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var array: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
            while true {
                skipSpace()
                array.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unexpected end of input in an array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return try number()
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard bytes.count - i >= n, word.withUTF8Buffer({ Array($0) }) == Array(bytes[i..<i + n]) else { throw fail("invalid literal") }
        i += n
    }

    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            return i - s
        }
        let intDigits = digits()
        guard intDigits > 0 else { throw fail("invalid value") }
        if intDigits > 1, bytes[i - intDigits] == 0x30 { throw fail("a number must not have a leading zero") }
        var integral = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            integral = false
            guard digits() > 0 else { throw fail("digits expected after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            integral = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("digits expected in the exponent") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let n = Int(text) { return .int(n) }
        guard let d = Double(text) else { throw fail("invalid number") }
        // A whole number written with a fraction or exponent is still a whole number.
        if d == d.rounded(), abs(d) < 9.0e15 { return .int(Int(d)) }
        return .double(d)
    }

    mutating func string() throws(JSONParseError) -> String {
        i += 1  // opening quote
        var out = [UInt8]()
        var start = i
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                if out.isEmpty {
                    // No escape: the string is the bytes as they stand.
                    guard let s = String(validating: bytes[start..<i], as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                    i += 1
                    return s
                }
                out += bytes[start..<i]
                i += 1
                break
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c == UInt8(ascii: "\\") {
                out += bytes[start..<i]
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                switch bytes[i] {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard bytes.count - i >= 7, bytes[i + 1] == UInt8(ascii: "\\"), bytes[i + 2] == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw fail("unpaired surrogate")
                    }
                    out += Array(String(Character(Unicode.Scalar(code)!)).utf8)
                default: throw fail("invalid escape")
                }
                i += 1
                start = i
                continue
            }
            i += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }

    /// Reads the 4 hex digits after `\u`, leaving `i` on the last one.
    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard bytes.count - i > 4 else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for k in 1...4 {
            let c = bytes[i + k]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
        }
        i += 4
        return v
    }
}
