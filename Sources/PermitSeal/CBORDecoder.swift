/// Decodes one CBOR item from bytes, with bounds on everything an attacker controls.
///
/// - Nesting deeper than `maxDepth` is an error (not a stack overflow).
/// - Indefinite-length items nested more than `maxIndefiniteDepth` deep are an error.
/// - A declared length larger than the bytes left is an error before anything is allocated.
/// - Bytes after the item are an error unless the caller asks for the rest.
/// - Duplicate map keys are an error when `rejectDuplicateKeys` is set.
/// Every error carries the byte offset where it was found.
public struct CBORDecoder: Sendable {
    public var maxDepth: Int
    public var maxIndefiniteDepth: Int
    public var rejectDuplicateKeys: Bool

    public init(maxDepth: Int = 64, maxIndefiniteDepth: Int = 16, rejectDuplicateKeys: Bool = true) {
        self.maxDepth = maxDepth
        self.maxIndefiniteDepth = maxIndefiniteDepth
        self.rejectDuplicateKeys = rejectDuplicateKeys
    }

    /// Decodes exactly one item that fills `bytes`.
    public func decode(_ bytes: [UInt8]) throws(CBORError) -> CBOR {
        let (item, end) = try decodePrefix(bytes)
        guard end == bytes.count else {
            throw CBORError(.trailingBytes, at: end, "\(bytes.count - end) byte(s) after the CBOR item")
        }
        return item
    }

    /// Decodes one item from the start of `bytes` and returns it with the offset just past it.
    public func decodePrefix(_ bytes: [UInt8]) throws(CBORError) -> (CBOR, Int) {
        var reader = Reader(bytes: bytes, options: self)
        let item = try reader.item(depth: 0, indefiniteDepth: 0)
        return (item, reader.offset)
    }

    private struct Reader {
        let bytes: [UInt8]
        let options: CBORDecoder
        var offset = 0

        init(bytes: [UInt8], options: CBORDecoder) {
            self.bytes = bytes
            self.options = options
        }

        mutating func byte() throws(CBORError) -> UInt8 {
            guard offset < bytes.count else { throw CBORError(.truncated, at: offset, "input ends where a byte was expected") }
            defer { offset += 1 }
            return bytes[offset]
        }

        /// Reads the argument of an initial byte; nil means indefinite length (info 31).
        mutating func argument(_ info: UInt8, at start: Int) throws(CBORError) -> UInt64? {
            switch info {
            case 0..<24: return UInt64(info)
            case 24...27:
                let count = 1 << Int(info - 24)
                guard bytes.count - offset >= count else {
                    throw CBORError(.truncated, at: offset, "input ends inside a \(count)-byte argument")
                }
                var value: UInt64 = 0
                for i in 0..<count { value = value << 8 | UInt64(bytes[offset + i]) }
                offset += count
                return value
            case 31: return nil
            default:
                throw CBORError(.reservedAdditionalInfo, at: start, "additional information \(info) is reserved")
            }
        }

        mutating func take(_ length: UInt64, at start: Int) throws(CBORError) -> ArraySlice<UInt8> {
            guard length <= UInt64(bytes.count - offset) else {
                throw CBORError(.lengthTooLarge, at: start, "declared length \(length) exceeds the \(bytes.count - offset) byte(s) left")
            }
            let slice = bytes[offset..<offset + Int(length)]
            offset += Int(length)
            return slice
        }

        mutating func item(depth: Int, indefiniteDepth: Int) throws(CBORError) -> CBOR {
            guard depth <= options.maxDepth else {
                throw CBORError(.tooDeep, at: offset, "nesting deeper than \(options.maxDepth) levels")
            }
            let start = offset
            let initial = try byte()
            let major = initial >> 5
            let info = initial & 0x1f
            if major == 7 { return try simpleOrFloat(info, at: start) }
            let arg = try argument(info, at: start)
            switch major {
            case 0:
                guard let n = arg else { throw CBORError(.indefiniteLengthNotAllowed, at: start, "an integer cannot have indefinite length") }
                return .unsigned(n)
            case 1:
                guard let n = arg else { throw CBORError(.indefiniteLengthNotAllowed, at: start, "an integer cannot have indefinite length") }
                return .negative(n)
            case 2, 3:
                var content: [UInt8]
                if let length = arg {
                    content = Array(try take(length, at: start))
                } else {
                    try checkIndefinite(indefiniteDepth, at: start)
                    content = []
                    while true {
                        let chunkStart = offset
                        let b = try byte()
                        if b == 0xff { break }
                        guard b >> 5 == major, let length = try argument(b & 0x1f, at: chunkStart) else {
                            throw CBORError(.invalidChunk, at: chunkStart, "a chunk of an indefinite-length string must be a definite string of the same type")
                        }
                        content += try take(length, at: chunkStart)
                    }
                }
                if major == 2 { return .bytes(content) }
                guard let text = String(validating: content, as: UTF8.self) else {
                    throw CBORError(.invalidUTF8, at: start, "text string is not valid UTF-8")
                }
                return .text(text)
            case 4:
                var items: [CBOR] = []
                if let count = arg {
                    // Each element needs at least one byte, so this bound also caps the allocation.
                    guard count <= UInt64(bytes.count - offset) else {
                        throw CBORError(.lengthTooLarge, at: start, "declared \(count) elements exceed the \(bytes.count - offset) byte(s) left")
                    }
                    items.reserveCapacity(Int(count))
                    for _ in 0..<count { items.append(try item(depth: depth + 1, indefiniteDepth: indefiniteDepth)) }
                } else {
                    try checkIndefinite(indefiniteDepth, at: start)
                    while try !atBreak() { items.append(try item(depth: depth + 1, indefiniteDepth: indefiniteDepth + 1)) }
                }
                return .array(items)
            case 5:
                var pairs: [CBORPair] = []
                let nextIndefinite = arg == nil ? indefiniteDepth + 1 : indefiniteDepth
                if let count = arg {
                    guard count <= UInt64(bytes.count - offset) / 2 else {
                        throw CBORError(.lengthTooLarge, at: start, "declared \(count) pairs exceed the \(bytes.count - offset) byte(s) left")
                    }
                    pairs.reserveCapacity(Int(count))
                    for _ in 0..<count { try appendPair(to: &pairs, depth: depth, indefiniteDepth: nextIndefinite) }
                } else {
                    try checkIndefinite(indefiniteDepth, at: start)
                    while try !atBreak() { try appendPair(to: &pairs, depth: depth, indefiniteDepth: nextIndefinite) }
                }
                return .map(pairs)
            case 6:
                guard let tag = arg else { throw CBORError(.indefiniteLengthNotAllowed, at: start, "a tag cannot have indefinite length") }
                return .tagged(tag, try item(depth: depth + 1, indefiniteDepth: indefiniteDepth))
            default:
                fatalError("unreachable: major type \(major)")
            }
        }

        mutating func checkIndefinite(_ indefiniteDepth: Int, at start: Int) throws(CBORError) {
            guard indefiniteDepth < options.maxIndefiniteDepth else {
                throw CBORError(.indefiniteTooDeep, at: start, "indefinite lengths nested deeper than \(options.maxIndefiniteDepth) levels")
            }
        }

        mutating func appendPair(to pairs: inout [CBORPair], depth: Int, indefiniteDepth: Int) throws(CBORError) {
            let keyStart = offset
            let key = try item(depth: depth + 1, indefiniteDepth: indefiniteDepth)
            if options.rejectDuplicateKeys, pairs.contains(where: { $0.key == key }) {
                throw CBORError(.duplicateKey, at: keyStart, "duplicate map key \(CBORDiagnostic.describe(key))")
            }
            let value = try item(depth: depth + 1, indefiniteDepth: indefiniteDepth)
            pairs.append(CBORPair(key, value))
        }

        /// Consumes a break byte if one is next.
        mutating func atBreak() throws(CBORError) -> Bool {
            guard offset < bytes.count else { throw CBORError(.truncated, at: offset, "input ends inside an indefinite-length item") }
            if bytes[offset] == 0xff {
                offset += 1
                return true
            }
            return false
        }

        mutating func simpleOrFloat(_ info: UInt8, at start: Int) throws(CBORError) -> CBOR {
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: return .undefined
            case 0..<20: return .simple(info)
            case 24:
                let value = try byte()
                // 0xf8 followed by 0–23 would duplicate the one-byte forms (false, true, null…), so it
                // is refused. 24–31 are accepted as simple(24)…simple(31), as RFC 8949 Appendix A's
                // example 0xf818 requires.
                guard value >= 24 else {
                    throw CBORError(.invalidSimpleValue, at: start, "simple value \(value) must use the one-byte form")
                }
                return .simple(value)
            case 25:
                let raw = try take(2, at: start)
                return .float(Double(halfBits: UInt16(raw[raw.startIndex]) << 8 | UInt16(raw[raw.startIndex + 1])))
            case 26:
                var bits: UInt32 = 0
                for b in try take(4, at: start) { bits = bits << 8 | UInt32(b) }
                return .float(Double(Float(bitPattern: bits)))
            case 27:
                var bits: UInt64 = 0
                for b in try take(8, at: start) { bits = bits << 8 | UInt64(b) }
                return .float(Double(bitPattern: bits))
            case 31:
                throw CBORError(.unexpectedBreak, at: start, "break byte outside an indefinite-length item")
            default:
                throw CBORError(.reservedAdditionalInfo, at: start, "additional information \(info) is reserved")
            }
        }
    }
}

extension Double {
    /// The value of an IEEE 754 half-precision float, computed exactly (RFC 8949 Appendix D).
    init(halfBits: UInt16) {
        let exponent = Int(halfBits >> 10) & 0x1f
        let mantissa = Double(halfBits & 0x3ff)
        let magnitude: Double
        switch exponent {
        case 0: magnitude = mantissa * 0x1p-24
        case 31: magnitude = mantissa == 0 ? .infinity : .nan
        default: magnitude = (mantissa + 1024) * Double(sign: .plus, exponent: exponent - 25, significand: 1)
        }
        self = halfBits & 0x8000 != 0 ? -magnitude : magnitude
    }
}
