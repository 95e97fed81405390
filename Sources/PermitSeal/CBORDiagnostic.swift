import Foundation

/// CBOR diagnostic notation (RFC 8949 §8), for `permit inspect` and error messages.
public enum CBORDiagnostic {
    /// The diagnostic notation of `item`, on one line; byte strings of more than `maxBytes`
    /// bytes are shortened with their length.
    public static func describe(_ item: CBOR, maxBytes: Int = .max) -> String {
        var out = ""
        write(item, maxBytes: maxBytes, to: &out)
        return out
    }

    static func write(_ item: CBOR, maxBytes: Int, to out: inout String) {
        switch item {
        case .unsigned(let n): out += String(n)
        case .negative(let n): out += n == .max ? "-18446744073709551616" : "-\(n + 1)"
        case .bytes(let b):
            if b.count > maxBytes {
                out += "h'\(Hex.encode(b.prefix(maxBytes)))…' (\(b.count) bytes)"
            } else {
                out += "h'\(Hex.encode(b))'"
            }
        case .text(let s): out += quoted(s)
        case .array(let items):
            out += "["
            for (i, e) in items.enumerated() {
                if i > 0 { out += ", " }
                write(e, maxBytes: maxBytes, to: &out)
            }
            out += "]"
        case .map(let pairs):
            out += "{"
            for (i, p) in pairs.enumerated() {
                if i > 0 { out += ", " }
                write(p.key, maxBytes: maxBytes, to: &out)
                out += ": "
                write(p.value, maxBytes: maxBytes, to: &out)
            }
            out += "}"
        case .tagged(let tag, let inner):
            out += "\(tag)("
            write(inner, maxBytes: maxBytes, to: &out)
            out += ")"
        case .simple(let v): out += "simple(\(v))"
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .undefined: out += "undefined"
        case .float(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += "\(d)" }
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Lowercase hexadecimal, as the trust and revocation lists write kids and hashes.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex of either case; nil for an odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
