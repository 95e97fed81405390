import Foundation

/// Canonical JSON for audit content, stored documents and hashed submissions: keys sorted by
/// their UTF-8 bytes, no insignificant whitespace, `/` unescaped, dates as Unix milliseconds,
/// absent optionals left out.
///
/// The bytes are exactly what Foundation's `JSONEncoder` writes with `[.sortedKeys,
/// .withoutEscapingSlashes]` and `.millisecondsSince1970` (a differential test holds the two
/// together), because digests of these bytes are signed and stored; this encoder is only faster:
/// it builds a small tree of nodes and writes it in one pass, where Foundation's took a seventh
/// of the workflow's time.
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) -> Data {
        Data(bytes(value))
    }

    /// The canonical JSON bytes of `value`. Values that JSON cannot hold (NaN, infinities) stop
    /// the process: every type encoded here holds strings, integers, booleans and dates only.
    public static func bytes<T: Encodable>(_ value: T) -> [UInt8] {
        do {
            return try encoded(value)
        } catch {
            fatalError("canonical JSON encoding failed: \(error)")
        }
    }

    /// As `bytes(_:)`, with the error for a value that JSON cannot hold.
    public static func encoded<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = Node()
        try CanonicalJSONEncoder.encode(value, into: root, codingPath: [])
        var out: [UInt8] = []
        out.reserveCapacity(512)
        root.write(to: &out)
        return out
    }
}

/// One value of the tree: a scalar already in its JSON form, an array or an object.
final class Node {
    enum Value {
        case empty
        case string(String)
        case literal(String)
        case array
        case object
    }
    var value: Value = .empty
    var items: [Node] = []
    var members: [String: Node] = [:]

    func write(to out: inout [UInt8]) {
        switch value {
        case .string(let s):
            Node.writeString(s, to: &out)
        case .literal(let text):
            out.append(contentsOf: text.utf8)
        case .array:
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object, .empty:
            // A nested encoder that wrote nothing is an empty object, as Foundation writes it.
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Node.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[key]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0c: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0a: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0d: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// The `Encoder` that fills a `Node`.
struct CanonicalJSONEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Encodes `value` into `node`, with Foundation's special forms for dates, data and URLs.
    static func encode<T: Encodable>(_ value: T, into node: Node, codingPath: [any CodingKey]) throws {
        switch value {
        case let date as Date:
            node.value = .literal(try number(date.timeIntervalSince1970 * 1000, codingPath))
        case let data as Data:
            node.value = .string(data.base64EncodedString())
        case let url as URL:
            node.value = .string(url.absoluteString)
        default:
            try value.encode(to: CanonicalJSONEncoder(node: node, codingPath: codingPath))
        }
    }

    /// A floating-point number as Foundation writes it: Swift's shortest form without a trailing ".0".
    static func number<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, _ codingPath: [any CodingKey]) throws -> String {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, EncodingError.Context(codingPath: codingPath, debugDescription: "\(value) is not a JSON number"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = node.value {} else { node.value = .object }
        return KeyedEncodingContainer(KeyedContainer(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = node.value {} else { node.value = .array }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(node: node, codingPath: codingPath)
    }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue!)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}

/// What the three containers share: turning a scalar into its JSON form.
private protocol ScalarWriter {
    var codingPath: [any CodingKey] { get }
}

extension ScalarWriter {
    func literal(_ value: Bool) -> Node.Value { .literal(value ? "true" : "false") }
    func literal<I: FixedWidthInteger>(_ value: I) -> Node.Value { .literal(String(value)) }
    func literal(_ value: Double) throws -> Node.Value { .literal(try CanonicalJSONEncoder.number(value, codingPath)) }
    func literal(_ value: Float) throws -> Node.Value { .literal(try CanonicalJSONEncoder.number(value, codingPath)) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol, ScalarWriter {
    let node: Node
    let codingPath: [any CodingKey]

    private func child(_ key: some CodingKey) -> Node {
        let child = Node()
        node.members[key.stringValue] = child
        return child
    }

    mutating func encodeNil(forKey key: Key) { child(key).value = .literal("null") }
    mutating func encode(_ value: Bool, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: String, forKey key: Key) { child(key).value = .string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(key).value = try literal(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { child(key).value = try literal(value) }
    mutating func encode(_ value: Int, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: Int8, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: Int16, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: Int32, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: Int64, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: UInt, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) { child(key).value = literal(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try CanonicalJSONEncoder.encode(value, into: child(key), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        CanonicalJSONEncoder(node: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        CanonicalJSONEncoder(node: child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        CanonicalJSONEncoder(node: child(SuperKey()), codingPath: codingPath + [SuperKey()])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        CanonicalJSONEncoder(node: child(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer, ScalarWriter {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.items.count }

    private func next() -> Node {
        let child = Node()
        node.items.append(child)
        return child
    }

    mutating func encodeNil() { next().value = .literal("null") }
    mutating func encode(_ value: Bool) { next().value = literal(value) }
    mutating func encode(_ value: String) { next().value = .string(value) }
    mutating func encode(_ value: Double) throws { next().value = try literal(value) }
    mutating func encode(_ value: Float) throws { next().value = try literal(value) }
    mutating func encode(_ value: Int) { next().value = literal(value) }
    mutating func encode(_ value: Int8) { next().value = literal(value) }
    mutating func encode(_ value: Int16) { next().value = literal(value) }
    mutating func encode(_ value: Int32) { next().value = literal(value) }
    mutating func encode(_ value: Int64) { next().value = literal(value) }
    mutating func encode(_ value: UInt) { next().value = literal(value) }
    mutating func encode(_ value: UInt8) { next().value = literal(value) }
    mutating func encode(_ value: UInt16) { next().value = literal(value) }
    mutating func encode(_ value: UInt32) { next().value = literal(value) }
    mutating func encode(_ value: UInt64) { next().value = literal(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = IndexKey(count)
        try CanonicalJSONEncoder.encode(value, into: next(), codingPath: codingPath + [index])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let index = IndexKey(count)
        return CanonicalJSONEncoder(node: next(), codingPath: codingPath + [index]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = IndexKey(count)
        return CanonicalJSONEncoder(node: next(), codingPath: codingPath + [index]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let index = IndexKey(count)
        return CanonicalJSONEncoder(node: next(), codingPath: codingPath + [index])
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer, ScalarWriter {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() { node.value = .literal("null") }
    mutating func encode(_ value: Bool) { node.value = literal(value) }
    mutating func encode(_ value: String) { node.value = .string(value) }
    mutating func encode(_ value: Double) throws { node.value = try literal(value) }
    mutating func encode(_ value: Float) throws { node.value = try literal(value) }
    mutating func encode(_ value: Int) { node.value = literal(value) }
    mutating func encode(_ value: Int8) { node.value = literal(value) }
    mutating func encode(_ value: Int16) { node.value = literal(value) }
    mutating func encode(_ value: Int32) { node.value = literal(value) }
    mutating func encode(_ value: Int64) { node.value = literal(value) }
    mutating func encode(_ value: UInt) { node.value = literal(value) }
    mutating func encode(_ value: UInt8) { node.value = literal(value) }
    mutating func encode(_ value: UInt16) { node.value = literal(value) }
    mutating func encode(_ value: UInt32) { node.value = literal(value) }
    mutating func encode(_ value: UInt64) { node.value = literal(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try CanonicalJSONEncoder.encode(value, into: node, codingPath: codingPath)
    }
}
