// PermitRender: turns a permit's display strings and its signed FP1 text into things people and
// scanners read — the QR matrix (libqrencode) as PNG, SVG or terminal art, the A4 paper permit as
// PDF and the phone card as PNG (cairo + pango) — and reads QR codes back out of PNG/JPEG images
// (cairo, libjpeg-turbo, zbar) for `permit verify --image`.
//
// Boundary: the public API takes plain strings and values (`PaperPermit`), never domain types,
// so this module knows nothing about signing, storage or routing.
import Foundation

/// The one error type of PermitRender: a stable machine-readable `code` and a human message
/// that names the value and the rule that it broke.
public struct RenderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable identifier such as `textTooLarge`; callers may switch on it.
    public let code: String
    /// A human-readable explanation naming the offending value and the rule.
    public let message: String

    /// Creates an error with the given stable code and message.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The message prefixed by the code, e.g. `textTooLarge: …`.
    public var description: String { "\(code): \(message)" }

    /// The text does not fit any QR version at the requested error-correction level.
    public static let textTooLargeCode = "textTooLarge"
    /// The text to encode is empty.
    public static let emptyTextCode = "emptyText"
    /// A size, resolution or other numeric argument is out of range.
    public static let invalidArgumentCode = "invalidArgument"
    /// A drawing library (cairo, pango) failed.
    public static let drawingFailedCode = "drawingFailed"
    /// A file could not be read or written.
    public static let ioCode = "io"
    /// A file given for scanning is neither PNG nor JPEG.
    public static let unsupportedImageCode = "unsupportedImage"
    /// A PNG or JPEG file is damaged and could not be decoded.
    public static let imageDecodeFailedCode = "imageDecodeFailed"
    /// The barcode scanner could not be run.
    public static let scannerFailedCode = "scannerFailed"
}
