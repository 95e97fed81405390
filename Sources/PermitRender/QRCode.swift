import CQREncode
import Foundation

/// QR error-correction level. Permits use `.Q` unless asked otherwise (permit-payload.md §1).
public enum QRErrorCorrection: String, CaseIterable, Sendable {
    /// About 7 % of codewords can be restored.
    case L
    /// About 15 %.
    case M
    /// About 25 %; the default for permits.
    case Q
    /// About 30 %.
    case H

    /// Parses `"L"`, `"M"`, `"Q"` or `"H"` (case-insensitive); nil for anything else.
    public init?(parsing text: String) {
        self.init(rawValue: text.uppercased())
    }

    var cLevel: QRecLevel {
        switch self {
        case .L: return QR_ECLEVEL_L
        case .M: return QR_ECLEVEL_M
        case .Q: return QR_ECLEVEL_Q
        case .H: return QR_ECLEVEL_H
        }
    }
}

/// An encoded QR code symbol: an immutable square matrix of modules, without quiet zone.
///
/// Text made only of QR's alphanumeric alphabet (`0-9 A-Z space $ % * + - . / :`, which is the
/// Base45 alphabet of an `FP1:` payload) is encoded as a single alphanumeric segment; any other
/// text lets libqrencode choose segments (numeric, alphanumeric, 8-bit UTF-8) itself.
public struct QRCode: Sendable, Equatable {
    /// The encoded text.
    public let text: String
    /// The error-correction level used.
    public let errorCorrection: QRErrorCorrection
    /// The QR version, 1…40 (the smallest that fits the text at `errorCorrection`).
    public let version: Int
    /// Modules per side, without the quiet zone (17 + 4 × version).
    public let width: Int
    /// Whether the text went into one alphanumeric-mode segment.
    public let isAlphanumericMode: Bool
    /// Row-major dark flags, `width * width` entries.
    private let modules: [Bool]

    /// The characters of QR alphanumeric mode (ISO/IEC 18004 table 5), which Base45 also uses.
    public static let alphanumericAlphabet: Set<Character> = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")

    /// Encodes `text` at level `ecc` into the smallest QR version that holds it.
    /// - Throws: `RenderError` `emptyText` for "", `textTooLarge` (naming the length and the
    ///   level) when no version up to 40 holds it.
    public init(text: String, ecc: QRErrorCorrection = .Q) throws {
        guard !text.isEmpty else {
            throw RenderError(code: RenderError.emptyTextCode, message: "cannot encode an empty text in a QR code")
        }
        let alphanumeric = text.allSatisfy { QRCode.alphanumericAlphabet.contains($0) }
        errno = 0
        let code: UnsafeMutablePointer<CQREncode.QRcode>?
        if alphanumeric {
            code = QRCode.encodeAlphanumeric(text, level: ecc.cLevel)
        } else {
            // casesensitive=1, hint 8-bit: libqrencode splits the text into optimal segments itself.
            code = QRcode_encodeString(text, 0, ecc.cLevel, QR_MODE_8, 1)
        }
        guard let code else {
            let err = errno
            let length = text.utf8.count
            if err == ERANGE {
                throw RenderError(code: RenderError.textTooLargeCode,
                                  message: "text of \(text.count) characters (\(length) bytes) does not fit a QR code at level \(ecc.rawValue): the largest, version 40, holds \(QRCode.capacity(ecc: ecc, alphanumeric: alphanumeric)) \(alphanumeric ? "alphanumeric characters" : "bytes")")
            }
            throw RenderError(code: RenderError.drawingFailedCode,
                              message: "libqrencode failed to encode \(length) bytes at level \(ecc.rawValue): \(String(cString: strerror(err)))")
        }
        defer { QRcode_free(code) }
        let w = Int(code.pointee.width)
        var modules = [Bool](repeating: false, count: w * w)
        let data = code.pointee.data!
        for i in 0..<(w * w) { modules[i] = data[i] & 1 == 1 }
        self.text = text
        self.errorCorrection = ecc
        self.version = Int(code.pointee.version)
        self.width = w
        self.isAlphanumericMode = alphanumeric
        self.modules = modules
    }

    private static func encodeAlphanumeric(_ text: String, level: QRecLevel) -> UnsafeMutablePointer<CQREncode.QRcode>? {
        guard let input = QRinput_new2(0, level) else { return nil }
        defer { QRinput_free(input) }
        let bytes = Array(text.utf8)
        let appended = bytes.withUnsafeBufferPointer { QRinput_append(input, QR_MODE_AN, Int32($0.count), $0.baseAddress) }
        guard appended == 0 else { return nil }
        return QRcode_encodeInput(input)
    }

    /// Version-40 capacity (ISO/IEC 18004 table 7), for error messages.
    static func capacity(ecc: QRErrorCorrection, alphanumeric: Bool) -> Int {
        switch (ecc, alphanumeric) {
        case (.L, true): return 4296
        case (.M, true): return 3391
        case (.Q, true): return 2420
        case (.H, true): return 1852
        case (.L, false): return 2953
        case (.M, false): return 2331
        case (.Q, false): return 1663
        case (.H, false): return 1273
        }
    }

    /// Whether the module at column `x`, row `y` (0-based, no quiet zone) is dark.
    /// Coordinates outside the matrix (e.g. in the quiet zone) are light.
    public func isDark(x: Int, y: Int) -> Bool {
        guard x >= 0, y >= 0, x < width, y < width else { return false }
        return modules[y * width + x]
    }

    /// The default quiet zone, in modules (permit-payload.md §1).
    public static let defaultQuietZone = 4
}
