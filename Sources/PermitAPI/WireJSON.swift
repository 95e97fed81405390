import Foundation
import PermitModel

/// The JSON of the HTTP API, the same on the server and in the client: sorted keys, unescaped
/// slashes, times as Unix milliseconds (the store's precision), bytes as base64.
///
/// A body is parsed once by the project's own JSON reader before it is decoded, so that nesting
/// deeper than `maxDepth` is refused with a clear error instead of exhausting the stack.
public enum WireJSON {
    /// The deepest nesting a request body may have (the file formats' limit).
    public static let maxDepth = 64
    /// Whole milliseconds, always an integer on the wire (a time not yet stored may carry a
    /// fraction of a millisecond, which `.millisecondsSince1970` would print as `…123.456`).
    public static let dateEncoding: JSONEncoder.DateEncodingStrategy = .custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
    public static let dateDecoding: JSONDecoder.DateDecodingStrategy = .millisecondsSince1970

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = dateEncoding
        return encoder
    }

    public static func encode<T: Encodable>(_ value: T) throws -> Data { try encoder().encode(value) }

    /// Decodes `data`; a text that is not JSON, or nests deeper than `maxDepth`, throws a
    /// `Problem` (`request.json`) naming the byte offset.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            _ = try JSONValue.parse(data, maxDepth: maxDepth)
        } catch {
            throw Problem(code: "request.json", message: "the body is not JSON: \(error)", field: "body", value: nil,
                          rule: "RFC 8259 JSON, UTF-8, nested at most \(maxDepth) deep")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = dateDecoding
        return try decoder.decode(type, from: data)
    }

    /// A decoding error as one sentence: what was wrong, and where (`items[0].submission`).
    public static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let c): return "\(path(c.codingPath + [key])) is missing"
        case .typeMismatch(_, let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case .valueNotFound(_, let c): return "\(path(c.codingPath)) is null"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
