/// Base45 (RFC 9285): the QR-alphanumeric-friendly encoding of the `FP1:` text.
public enum Base45 {
    /// The alphabet, in value order. It includes the space character.
    public static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".utf8)

    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    /// Why a text is not valid Base45.
    public struct DecodingError: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable { case invalidCharacter, danglingCharacter, valueTooLarge }
        public var kind: Kind
        /// Offset of the offending character in the text's UTF-8 bytes.
        public var offset: Int
        public var description: String {
            switch kind {
            case .invalidCharacter: return "character at offset \(offset) is outside the Base45 alphabet"
            case .danglingCharacter: return "a single character is left over at offset \(offset); Base45 groups are 2 or 3 characters"
            case .valueTooLarge: return "the group at offset \(offset) decodes to more than its bytes can hold"
            }
        }
    }

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        encode(bytes, after: [])
    }

    /// `prefix` (ASCII) followed by the Base45 text of `bytes`, built as one string.
    public static func encode<C: Collection>(_ bytes: C, after prefix: [UInt8]) -> String where C.Element == UInt8 {
        if let fast = bytes.withContiguousStorageIfAvailable({ encode(buffer: $0, after: prefix) }) { return fast }
        return Array(bytes).withUnsafeBufferPointer { encode(buffer: $0, after: prefix) }
    }

    private static func encode(buffer input: UnsafeBufferPointer<UInt8>, after prefix: [UInt8]) -> String {
        let count = prefix.count + input.count / 2 * 3 + (input.count % 2 == 1 ? 2 : 0)
        return alphabet.withUnsafeBufferPointer { table in
            String(unsafeUninitializedCapacity: count) { out in
                var o = 0
                for byte in prefix { out[o] = byte; o += 1 }
                var i = 0
                while i + 1 < input.count {
                    var n = Int(input[i]) << 8 | Int(input[i + 1])
                    out[o] = table[n % 45]; n /= 45
                    out[o + 1] = table[n % 45]
                    out[o + 2] = table[n / 45]
                    o += 3
                    i += 2
                }
                if i < input.count {
                    let n = Int(input[i])
                    out[o] = table[n % 45]
                    out[o + 1] = table[n / 45]
                    o += 2
                }
                return o
            }
        }
    }

    public static func decode(_ text: String) throws(DecodingError) -> [UInt8] {
        try decode(Array(text.utf8))
    }

    /// Decodes Base45 given as the UTF-8 bytes of the text.
    public static func decode<C: RandomAccessCollection>(_ chars: C) throws(DecodingError) -> [UInt8] where C.Element == UInt8, C.Index == Int {
        let count = chars.count
        if count % 3 == 1 { throw DecodingError(kind: .danglingCharacter, offset: count - 1) }
        var out = [UInt8]()
        out.reserveCapacity(count / 3 * 2 + 1)
        let base = chars.startIndex
        let values = Base45.values
        var i = 0
        while i < count {
            let groupLength = min(3, count - i)
            var n = 0
            var factor = 1
            for j in 0..<groupLength {
                let v = values[Int(chars[base + i + j])]
                if v < 0 { throw DecodingError(kind: .invalidCharacter, offset: i + j) }
                n += Int(v) * factor
                factor *= 45
            }
            if groupLength == 3 {
                guard n <= 0xffff else { throw DecodingError(kind: .valueTooLarge, offset: i) }
                out.append(UInt8(n >> 8))
                out.append(UInt8(n & 0xff))
            } else {
                guard n <= 0xff else { throw DecodingError(kind: .valueTooLarge, offset: i) }
                out.append(UInt8(n))
            }
            i += groupLength
        }
        return out
    }
}
