import Foundation
import PermitFoundation

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
