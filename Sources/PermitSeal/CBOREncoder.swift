/// Writes CBOR in core deterministic encoding (RFC 8949 §4.2.1): integers and lengths in their
/// shortest form, definite lengths only, map keys sorted by their encoded bytes, and floats in
/// the shortest precision that keeps their value.
public enum CBOREncoder {
    /// The deterministic encoding of `item`.
    public static func encode(_ item: CBOR) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        append(item, to: &out)
        return out
    }

    /// Appends the deterministic encoding of `item` to `out`.
    public static func append(_ item: CBOR, to out: inout [UInt8]) {
        switch item {
        case .unsigned(let n): head(0, n, &out)
        case .negative(let n): head(1, n, &out)
        case .bytes(let b):
            head(2, UInt64(b.count), &out)
            out += b
        case .text(let s):
            let utf8 = s.utf8
            head(3, UInt64(utf8.count), &out)
            out += utf8
        case .array(let items):
            head(4, UInt64(items.count), &out)
            for i in items { append(i, to: &out) }
        case .map(let pairs):
            head(5, UInt64(pairs.count), &out)
            if let sorted = sortedIntegerKeys(pairs) {
                for p in sorted {
                    append(p.key, to: &out)
                    append(p.value, to: &out)
                }
                return
            }
            var encoded: [(key: [UInt8], pair: CBORPair)] = []
            encoded.reserveCapacity(pairs.count)
            for p in pairs {
                var k: [UInt8] = []
                append(p.key, to: &k)
                encoded.append((k, p))
            }
            encoded.sort { $0.key.lexicographicallyPrecedes($1.key) }
            for e in encoded {
                out += e.key
                append(e.pair.value, to: &out)
            }
        case .tagged(let tag, let inner):
            head(6, tag, &out)
            append(inner, to: &out)
        case .simple(let v):
            if v < 24 { out.append(0xe0 | v) } else { out += [0xf8, v] }
        case .bool(let b): out.append(b ? 0xf5 : 0xf4)
        case .null: out.append(0xf6)
        case .undefined: out.append(0xf7)
        case .float(let d): float(d, &out)
        }
    }

    /// Pairs whose keys are all integers, in deterministic order without encoding the keys:
    /// unsigned before negative, and within each, shorter heads (smaller arguments) first.
    static func sortedIntegerKeys(_ pairs: [CBORPair]) -> [CBORPair]? {
        var keyed: [(major: UInt8, n: UInt64, pair: CBORPair)] = []
        keyed.reserveCapacity(pairs.count)
        for p in pairs {
            switch p.key {
            case .unsigned(let n): keyed.append((0, n, p))
            case .negative(let n): keyed.append((1, n, p))
            default: return nil
            }
        }
        keyed.sort { ($0.major, $0.n) < ($1.major, $1.n) }
        return keyed.map(\.pair)
    }

    @inline(__always)
    static func head(_ major: UInt8, _ n: UInt64, _ out: inout [UInt8]) {
        let m = major << 5
        switch n {
        case 0..<24: out.append(m | UInt8(n))
        case 24...0xff: out += [m | 24, UInt8(n)]
        case 0x100...0xffff: out += [m | 25, UInt8(n >> 8), UInt8(n & 0xff)]
        case 0x1_0000...0xffff_ffff:
            out += [m | 26, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        default:
            out.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((n >> UInt64(shift)) & 0xff)) }
        }
    }

    static func float(_ d: Double, _ out: inout [UInt8]) {
        if d.isNaN {
            out += [0xf9, 0x7e, 0x00]
            return
        }
        if let half = halfBits(exactly: d) {
            out += [0xf9, UInt8(half >> 8), UInt8(half & 0xff)]
            return
        }
        let single = Float(d)
        if Double(single) == d {
            let bits = single.bitPattern
            out += [0xfa, UInt8(bits >> 24), UInt8((bits >> 16) & 0xff), UInt8((bits >> 8) & 0xff), UInt8(bits & 0xff)]
            return
        }
        out.append(0xfb)
        let bits = d.bitPattern
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((bits >> UInt64(shift)) & 0xff)) }
    }

    /// The half-precision bits of `d` if a half holds it exactly.
    static func halfBits(exactly d: Double) -> UInt16? {
        let sign: UInt16 = d.sign == .minus ? 0x8000 : 0
        let magnitude = abs(d)
        if magnitude.isInfinite { return sign | 0x7c00 }
        if magnitude == 0 { return sign }
        // Subnormal halves: multiples of 2^-24 below 2^-14.
        if magnitude < 0x1p-14 {
            let scaled = magnitude * 0x1p24
            guard scaled == scaled.rounded(), scaled < 1024 else { return nil }
            return sign | UInt16(scaled)
        }
        let exponent = Int(magnitude.exponent)
        guard exponent <= 15 else { return nil }
        let mantissa = (magnitude.significand - 1) * 1024
        guard mantissa == mantissa.rounded() else { return nil }
        return sign | UInt16(exponent + 15) << 10 | UInt16(mantissa)
    }
}
