import Foundation
import PermitModel

/// What the server reads from a request before a route calls the service: the body's media type,
/// its JSON, the query parameters, the department in the path and the lines of a `text/plain`
/// body. Pure functions of strings and bytes, so that the server's routes and the fuzz target
/// (Fuzz/, `PermitFuzzHTTP`) run the same code. Each refusal is a `Problem`; the server maps it to
/// its status (400 for a body or a query, 404 for a department).
public enum WireRequest {
    /// The media type of a Content-Type value, lowercased, without parameters; "" when absent.
    public static func mediaType(_ contentType: String?) -> String {
        guard let contentType else { return "" }
        return (contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? "").trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// A JSON body as `type`: not JSON, nested deeper than `WireJSON.maxDepth`, or not the shape
    /// the route takes, it is refused with `request.json`.
    public static func decodeJSON<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(Problem) -> T {
        do {
            return try WireJSON.decode(type, from: Data(bytes))
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(code: "request.json", message: "the body is not the JSON this resource takes: \(WireJSON.describe(error))",
                          field: "body", rule: "the request schema in /v1/openapi.yaml")
        }
    }

    /// `limit`, 1…1000, 50 when absent.
    public static func limit(_ text: String?) throws(Problem) -> Int {
        guard let text else { return PageCursor.defaultLimit }
        guard let n = Int(text) else {
            throw Problem(code: "page.limit", message: "limit \(text) is not a number", field: "limit", value: text,
                          rule: "1 to \(PageCursor.maxLimit) rows a page")
        }
        do { try PageCursor.checkLimit(n) } catch { throw error.problems[0] }
        return n
    }

    /// A whole-number parameter, nil when absent.
    public static func intParameter(_ name: String, _ text: String?) throws(Problem) -> Int? {
        guard let text else { return nil }
        guard let n = Int(text) else {
            throw Problem(code: "request.query", message: "\(name)=\(text) is not a whole number", field: name, value: text, rule: "a whole number")
        }
        return n
    }

    /// A parameter naming one of an enumeration's raw values, nil when absent.
    public static func enumParameter<T: RawRepresentable & CaseIterable>(_ name: String, _ text: String?) throws(Problem) -> T?
        where T.RawValue == String {
        guard let text else { return nil }
        guard let value = T(rawValue: text) else {
            throw Problem(code: "request.query", message: "\(name)=\(text) is not one of the values", field: name, value: text,
                          rule: T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// A `YYYY-MM-DD` parameter, nil when absent.
    public static func dayParameter(_ name: String, _ text: String?) throws(Problem) -> CalendarDay? {
        guard let text else { return nil }
        guard let day = CalendarDay(iso: text) else {
            throw Problem(code: "request.query", message: "\(name)=\(text) is not a date", field: name, value: text, rule: "YYYY-MM-DD")
        }
        return day
    }

    /// A flag parameter: `true` or `1`; anything else, or absent, is false.
    public static func flag(_ text: String?) -> Bool { text.map { $0 == "true" || $0 == "1" } ?? false }

    /// The `{department}` of a path, any case; refused with `department.unknown` (404).
    public static func department(_ text: String?) throws(Problem) -> Department {
        let text = text ?? ""
        guard let d = Department(rawValue: text.uppercased()) else {
            throw Problem(code: "department.unknown", message: "\(text) is not a department code", field: "department", value: text,
                          rule: Department.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return d
    }

    /// The lines of a `text/plain` body of `POST /v1/verify`: split on LF, one CR before it
    /// stripped, nothing else trimmed (Base45 holds the space), as `permit verify --file` reads
    /// them; a final newline ends the last line.
    public static func lines(_ bytes: [UInt8]) -> [String] {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> String in
            String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}
