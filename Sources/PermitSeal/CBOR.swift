/// A CBOR data item (RFC 8949).
///
/// Maps keep their pairs in order: as decoded, or as given. The encoder sorts them for
/// core deterministic encoding; the decoder never reorders what it read.
public indirect enum CBOR: Hashable, Sendable {
    /// Major type 0: an unsigned integer.
    case unsigned(UInt64)
    /// Major type 1: the negative integer `-1 - n`.
    case negative(UInt64)
    /// Major type 2: a byte string.
    case bytes([UInt8])
    /// Major type 3: a text string.
    case text(String)
    /// Major type 4: an array.
    case array([CBOR])
    /// Major type 5: a map, as ordered key-value pairs.
    case map([CBORPair])
    /// Major type 6: a tagged item.
    case tagged(UInt64, CBOR)
    /// Major type 7: a simple value other than false, true, null and undefined.
    case simple(UInt8)
    case bool(Bool)
    case null
    case undefined
    /// Major type 7: a half, single or double precision float (decoded; the encoder writes
    /// the shortest precision that preserves the value).
    case float(Double)

    /// An integer item for a Swift integer, positive or negative.
    public static func int(_ value: Int64) -> CBOR {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-(value + 1)))
    }

    /// The value as a Swift `Int64`, when it is an integer that fits.
    public var int64: Int64? {
        switch self {
        case .unsigned(let n): return n <= UInt64(Int64.max) ? Int64(n) : nil
        case .negative(let n): return n <= UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: return nil
        }
    }

    /// The value of an unsigned integer item.
    public var uint64: UInt64? {
        if case .unsigned(let n) = self { return n }
        return nil
    }

    public var text: String? {
        if case .text(let s) = self { return s }
        return nil
    }

    public var bytes: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }

    public var array: [CBOR]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var mapPairs: [CBORPair]? {
        if case .map(let m) = self { return m }
        return nil
    }

    /// The value under an integer key of a map item (the first, if keys repeat).
    public subscript(key: Int64) -> CBOR? {
        guard case .map(let pairs) = self else { return nil }
        let wanted = CBOR.int(key)
        return pairs.first(where: { $0.key == wanted })?.value
    }

    /// A short name of the item's type, for error messages.
    public var typeName: String {
        switch self {
        case .unsigned, .negative: return "integer"
        case .bytes: return "byte string"
        case .text: return "text string"
        case .array: return "array"
        case .map: return "map"
        case .tagged: return "tagged item"
        case .simple: return "simple value"
        case .bool: return "boolean"
        case .null: return "null"
        case .undefined: return "undefined"
        case .float: return "float"
        }
    }
}

/// One key-value pair of a CBOR map.
public struct CBORPair: Hashable, Sendable {
    public var key: CBOR
    public var value: CBOR
    public init(_ key: CBOR, _ value: CBOR) {
        self.key = key
        self.value = value
    }
}

extension CBOR: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(arrayLiteral elements: CBOR...) { self = .array(elements) }
}

/// A CBOR decoding failure, with the byte offset where it was found.
public struct CBORError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong; stable names for tests and reports.
    public enum Kind: String, Sendable {
        case truncated, trailingBytes, reservedAdditionalInfo, invalidUTF8, tooDeep
        case indefiniteTooDeep, duplicateKey, unexpectedBreak, invalidChunk, lengthTooLarge
        case invalidSimpleValue, indefiniteLengthNotAllowed
    }
    public var kind: Kind
    public var offset: Int
    public var detail: String

    public init(_ kind: Kind, at offset: Int, _ detail: String) {
        self.kind = kind
        self.offset = offset
        self.detail = detail
    }

    public var description: String { "CBOR \(kind.rawValue) at byte \(offset): \(detail)" }
}
