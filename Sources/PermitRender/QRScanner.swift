import CCairo
import CJPEG
import CZBar
import Foundation

/// Reads QR codes out of PNG and JPEG images (a photo or screenshot of a permit).
///
/// PNG is decoded by cairo, JPEG by libjpeg-turbo; the pixels are flattened onto white and
/// converted to 8-bit greyscale ("Y800"), the only format zbar's image scanner reads.
public enum QRScanner {
    /// A decoded greyscale image: `width * height` bytes, row-major, 0 black … 255 white.
    public struct GreyImage: Sendable {
        /// Pixels per row.
        public let width: Int
        /// Number of rows.
        public let height: Int
        /// Luma bytes, row-major, no padding.
        public let pixels: [UInt8]

        /// Creates an image from `width * height` luma bytes.
        public init(width: Int, height: Int, pixels: [UInt8]) {
            precondition(pixels.count == width * height, "pixel count must be width × height")
            self.width = width
            self.height = height
            self.pixels = pixels
        }
    }

    /// The text of every QR code found in the PNG or JPEG file at `url`, in zbar's order.
    /// An image in which no code can be read gives `[]` (the caller reports it as unreadable).
    /// - Throws: `RenderError` `io` if the file cannot be read, `unsupportedImage` if it is not a
    ///   PNG or JPEG, `imageDecodeFailed` if it is damaged.
    public static func scan(imageAt url: URL) throws -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw RenderError(code: RenderError.ioCode, message: "cannot read image \(url.path): \(error.localizedDescription)")
        }
        return try scan(imageData: data, name: url.lastPathComponent)
    }

    /// Like `scan(imageAt:)`, for PNG or JPEG bytes already in memory; `name` is used in errors.
    public static func scan(imageData data: Data, name: String = "image") throws -> [String] {
        try scan(decode(imageData: data, name: name))
    }

    /// Decodes PNG or JPEG bytes (recognised by their signature, not by a file name) to greyscale.
    public static func decode(imageData data: Data, name: String = "image") throws -> GreyImage {
        let bytes = [UInt8](data.prefix(8))
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return try decodePNG(data, name: name)
        }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            return try decodeJPEG(data, name: name)
        }
        let shown = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw RenderError(code: RenderError.unsupportedImageCode,
                          message: "\(name) is not a PNG or JPEG image (it starts with bytes \(shown.isEmpty ? "nothing: the file is empty" : shown))")
    }

    /// The text of every QR code zbar finds in a greyscale image.
    public static func scan(_ image: GreyImage) throws -> [String] {
        guard image.width > 0, image.height > 0 else { return [] }
        guard let scanner = zbar_image_scanner_create() else {
            throw RenderError(code: RenderError.scannerFailedCode, message: "zbar could not create an image scanner")
        }
        defer { zbar_image_scanner_destroy(scanner) }
        // Only QR codes: faster, and no false positives from 1-D symbologies in the form's lines.
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0)
        zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1)

        guard let zimage = zbar_image_create() else {
            throw RenderError(code: RenderError.scannerFailedCode, message: "zbar could not create an image")
        }
        defer { zbar_image_destroy(zimage) }
        zbar_image_set_format(zimage, y800)
        zbar_image_set_size(zimage, UInt32(image.width), UInt32(image.height))
        return image.pixels.withUnsafeBufferPointer { buffer -> [String] in
            // No cleanup handler: the buffer outlives the zbar image, which is destroyed in this scope.
            zbar_image_set_data(zimage, buffer.baseAddress, UInt(buffer.count), nil)
            let found = zbar_scan_image(scanner, zimage)
            guard found > 0 else { return [] }
            var texts: [String] = []
            var symbol = zbar_image_first_symbol(zimage)
            while let s = symbol {
                if zbar_symbol_get_type(s) == ZBAR_QRCODE, let raw = zbar_symbol_get_data(s) {
                    let length = Int(zbar_symbol_get_data_length(s))
                    let bytes = UnsafeRawBufferPointer(start: raw, count: length)
                    texts.append(String(decoding: bytes, as: UTF8.self))
                }
                symbol = zbar_symbol_next(s)
            }
            zbar_image_set_data(zimage, nil, 0, nil)
            return texts
        }
    }

    /// zbar_fourcc('Y','8','0','0'); the C macro does not import into Swift.
    private static let y800: UInt = UInt(UInt8(ascii: "Y")) | UInt(UInt8(ascii: "8")) << 8
        | UInt(UInt8(ascii: "0")) << 16 | UInt(UInt8(ascii: "0")) << 24

    private static func decodePNG(_ data: Data, name: String) throws -> GreyImage {
        final class Source {
            let data: Data
            var offset = 0
            init(_ data: Data) { self.data = data }
        }
        let source = Source(data)
        let decoded: OpaquePointer? = withExtendedLifetime(source) {
            cairo_image_surface_create_from_png_stream({ closure, buffer, length in
                let source = Unmanaged<Source>.fromOpaque(closure!).takeUnretainedValue()
                let n = Int(length)
                guard source.offset + n <= source.data.count else { return CAIRO_STATUS_READ_ERROR }
                source.data.copyBytes(to: buffer!, from: source.offset..<(source.offset + n))
                source.offset += n
                return CAIRO_STATUS_SUCCESS
            }, Unmanaged.passUnretained(source).toOpaque())
        }
        guard let png = decoded else {
            throw RenderError(code: RenderError.imageDecodeFailedCode, message: "cairo could not decode PNG \(name)")
        }
        defer { cairo_surface_destroy(png) }
        let status = cairo_surface_status(png)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw RenderError(code: RenderError.imageDecodeFailedCode,
                              message: "PNG \(name) could not be decoded: \(String(cString: cairo_status_to_string(status)))")
        }
        let width = Int(cairo_image_surface_get_width(png)), height = Int(cairo_image_surface_get_height(png))
        guard width > 0, height > 0 else { return GreyImage(width: 0, height: 0, pixels: []) }
        // Flatten whatever cairo produced (ARGB32 with transparency, RGB24, A8, A1) onto white.
        guard let flat = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height)) else {
            throw RenderError(code: RenderError.drawingFailedCode, message: "cairo could not create a \(width)×\(height) image")
        }
        defer { cairo_surface_destroy(flat) }
        try checkCairo(cairo_surface_status(flat), "creating a \(width)×\(height) image")
        let cr = cairo_create(flat)!
        cairo_set_source_rgb(cr, 1, 1, 1)
        cairo_paint(cr)
        cairo_set_source_surface(cr, png, 0, 0)
        cairo_paint(cr)
        let drawStatus = cairo_status(cr)
        cairo_destroy(cr)
        try checkCairo(drawStatus, "flattening PNG \(name)")
        cairo_surface_flush(flat)
        let stride = Int(cairo_image_surface_get_stride(flat))
        let base = UnsafeRawPointer(cairo_image_surface_get_data(flat)!)
        var pixels = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeMutableBufferPointer { out in
            for y in 0..<height {
                let row = (base + y * stride).bindMemory(to: UInt32.self, capacity: width)
                for x in 0..<width {
                    let p = row[x]
                    let r = (p >> 16) & 0xFF, g = (p >> 8) & 0xFF, b = p & 0xFF
                    // ITU-R BT.601 luma, integer weights summing to 256.
                    out[y * width + x] = UInt8((r * 77 + g * 150 + b * 29) >> 8)
                }
            }
        }
        return GreyImage(width: width, height: height, pixels: pixels)
    }

    private static func decodeJPEG(_ data: Data, name: String) throws -> GreyImage {
        var out: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            cjpeg_decode_grey(raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count),
                              &out, &width, &height, &message, message.count)
        }
        guard status == 0, let pixels = out else {
            let text = String(cString: message)
            throw RenderError(code: RenderError.imageDecodeFailedCode,
                              message: "JPEG \(name) could not be decoded: \(text.isEmpty ? "unknown libjpeg error" : text)")
        }
        defer { free(pixels) }
        let count = Int(width) * Int(height)
        return GreyImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}
