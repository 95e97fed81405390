import CCairo
import CZlib
import Foundation

extension QRCode {
    /// Modules per side including a quiet zone of `quietZone` modules on every side.
    public func sizeWithQuietZone(_ quietZone: Int = QRCode.defaultQuietZone) -> Int {
        width + 2 * quietZone
    }

    // MARK: PNG

    /// A PNG of the code with `moduleSize` pixels per module and a white quiet zone.
    /// - Throws: `RenderError` `invalidArgument` for a module size outside 1…100.
    public func png(moduleSize: Int, quietZone: Int = QRCode.defaultQuietZone) throws -> Data {
        guard (1...100).contains(moduleSize) else {
            throw RenderError(code: RenderError.invalidArgumentCode, message: "module size \(moduleSize) px is outside 1…100")
        }
        guard quietZone >= 0 else {
            throw RenderError(code: RenderError.invalidArgumentCode, message: "quiet zone \(quietZone) is negative")
        }
        let side = sizeWithQuietZone(quietZone) * moduleSize
        return try renderPNG(pixels: side, quietZone: quietZone, dpi: nil)
    }

    /// A PNG exactly `widthMillimetres` wide at `dpi` (pixel side = round(mm / 25.4 × dpi)),
    /// quiet zone included, with the resolution recorded in a pHYs chunk so it prints at that size.
    /// Modules are mapped to whole pixels, so at low resolutions they differ by at most one pixel.
    /// - Throws: `RenderError` `invalidArgument` when the result would have fewer pixels than
    ///   modules, or more than 20 000 pixels per side.
    public func png(widthMillimetres: Double, dpi: Int, quietZone: Int = QRCode.defaultQuietZone) throws -> Data {
        guard widthMillimetres.isFinite, widthMillimetres > 0, dpi > 0, quietZone >= 0 else {
            throw RenderError(code: RenderError.invalidArgumentCode,
                              message: "width \(widthMillimetres) mm at \(dpi) dpi: both must be positive")
        }
        let pixels = Int((widthMillimetres / 25.4 * Double(dpi)).rounded())
        let modules = sizeWithQuietZone(quietZone)
        guard pixels >= modules, pixels <= 20_000 else {
            throw RenderError(code: RenderError.invalidArgumentCode,
                              message: "width \(widthMillimetres) mm at \(dpi) dpi is \(pixels) px, but a version-\(version) code with quiet zone needs between \(modules) and 20000 px")
        }
        return try renderPNG(pixels: pixels, quietZone: quietZone, dpi: dpi)
    }

    /// A 1-bit greyscale PNG written directly: a QR code has two colours, so one bit per pixel
    /// and zlib over the packed rows is several times faster (and smaller) than drawing an RGB
    /// surface and letting cairo encode it.
    private func renderPNG(pixels side: Int, quietZone: Int, dpi: Int?) throws -> Data {
        let modules = sizeWithQuietZone(quietZone)
        // Pixel → module by integer arithmetic, so each module covers whole pixels.
        var moduleOfPixel = [Int](repeating: 0, count: side)
        for p in 0..<side { moduleOfPixel[p] = p * modules / side - quietZone }
        // Each scanline: filter type 0, then the pixels packed MSB first, 1 = white.
        let rowBytes = 1 + (side + 7) / 8
        var raw = [UInt8](repeating: 0, count: rowBytes * side)
        var previousModuleRow = Int.min
        for y in 0..<side {
            let base = y * rowBytes
            let my = moduleOfPixel[y]
            if my == previousModuleRow {
                for i in 0..<rowBytes { raw[base + i] = raw[base - rowBytes + i] }
                continue
            }
            previousModuleRow = my
            for x in 0..<side where !isDark(x: moduleOfPixel[x], y: my) {
                raw[base + 1 + (x >> 3)] |= 0x80 >> UInt8(x & 7)
            }
        }
        var bound = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(bound))
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { compress2(out.baseAddress, &bound, $0.baseAddress, uLong($0.count), Z_DEFAULT_COMPRESSION) }
        }
        guard status == Z_OK else {
            throw RenderError(code: RenderError.drawingFailedCode, message: "zlib failed (status \(status)) compressing a \(side)×\(side) PNG")
        }
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(side))
        header.append(bigEndian: UInt32(side))
        header.append(contentsOf: [1, 0, 0, 0, 0]) // bit depth 1, greyscale, deflate, adaptive filtering, no interlace
        PNGChunks.append("IHDR", header, to: &png)
        if let dpi { PNGChunks.append("pHYs", PNGChunks.physicalDimensions(dotsPerInch: dpi), to: &png) }
        PNGChunks.append("IDAT", Data(compressed[0..<Int(bound)]), to: &png)
        PNGChunks.append("IEND", Data(), to: &png)
        return png
    }

    // MARK: SVG

    /// A standalone SVG document: a white background and one `<path>` of dark module runs, in a
    /// `viewBox` of one unit per module including the quiet zone, with `shape-rendering="crispEdges"`.
    /// Without `widthMillimetres` the SVG has no intrinsic size and scales to its container.
    public func svg(quietZone: Int = QRCode.defaultQuietZone, widthMillimetres: Double? = nil) -> String {
        let size = sizeWithQuietZone(quietZone)
        var d = ""
        d.reserveCapacity(width * width)
        for y in 0..<width {
            var x = 0
            while x < width {
                guard isDark(x: x, y: y) else { x += 1; continue }
                var run = 1
                while isDark(x: x + run, y: y) { run += 1 }
                d += "M\(x + quietZone) \(y + quietZone)h\(run)v1h-\(run)z"
                x += run
            }
        }
        var sizeAttributes = ""
        if let mm = widthMillimetres, mm > 0 {
            let text = String(format: "%.2f", mm)
            sizeAttributes = " width=\"\(text)mm\" height=\"\(text)mm\""
        }
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 \(size) \(size)"\(sizeAttributes) shape-rendering="crispEdges">
        <rect width="\(size)" height="\(size)" fill="#ffffff"/>
        <path fill="#000000" d="\(d)"/>
        </svg>

        """
    }

    // MARK: Terminal

    /// The code as UTF-8 half blocks (`▀ ▄ █` and space), two module rows per line, quiet zone included.
    ///
    /// Not inverted, dark modules are drawn as glyphs: for dark text on a light terminal.
    /// Inverted, light modules (and the quiet zone) are drawn: for light text on a dark terminal.
    /// Each line has `width + 2 × quietZone` characters; lines end with "\n".
    public func terminal(inverted: Bool = false, quietZone: Int = QRCode.defaultQuietZone) -> String {
        let size = sizeWithQuietZone(quietZone)
        func ink(_ x: Int, _ y: Int) -> Bool {
            guard y < size else { return inverted } // the padding row below an odd count is light
            return isDark(x: x - quietZone, y: y - quietZone) != inverted
        }
        var out = ""
        var y = 0
        while y < size {
            for x in 0..<size {
                switch (ink(x, y), ink(x, y + 1)) {
                case (true, true): out += "█"
                case (true, false): out += "▀"
                case (false, true): out += "▄"
                case (false, false): out += " "
                }
            }
            out += "\n"
            y += 2
        }
        return out
    }
}

// MARK: - cairo helpers shared by the renderers

func checkCairo(_ status: cairo_status_t, _ what: String) throws {
    guard status == CAIRO_STATUS_SUCCESS else {
        throw RenderError(code: RenderError.drawingFailedCode,
                          message: "cairo failed while \(what): \(String(cString: cairo_status_to_string(status)))")
    }
}

/// Writes an image surface to PNG bytes through cairo's stream writer.
func writePNG(_ surface: OpaquePointer) throws -> Data {
    final class Sink { var data = Data() }
    let sink = Sink()
    let status = withExtendedLifetime(sink) { () -> cairo_status_t in
        cairo_surface_write_to_png_stream(surface, { closure, bytes, length in
            let sink = Unmanaged<Sink>.fromOpaque(closure!).takeUnretainedValue()
            sink.data.append(bytes!, count: Int(length))
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(sink).toOpaque())
    }
    try checkCairo(status, "writing a PNG")
    return sink.data
}

/// Minimal PNG chunk writing, for the QR code's own PNG.
enum PNGChunks {
    /// Appends one chunk (length, type, data, CRC-32 of type and data) to `png`.
    static func append(_ type: String, _ data: Data, to png: inout Data) {
        var body = Data(type.utf8)
        body.append(data)
        png.append(bigEndian: UInt32(data.count))
        png.append(body)
        png.append(bigEndian: crc32(body))
    }

    /// A pHYs chunk's data: `dotsPerInch` in pixels per metre on both axes.
    static func physicalDimensions(dotsPerInch: Int) -> Data {
        let perMetre = UInt32((Double(dotsPerInch) / 0.0254).rounded())
        var body = Data()
        body.append(bigEndian: perMetre)
        body.append(bigEndian: perMetre)
        body.append(1) // unit: metre
        return body
    }

    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { buffer in
            UInt32(CZlib.crc32(0, buffer.bindMemory(to: Bytef.self).baseAddress, uInt(buffer.count)))
        }
    }
}

extension Data {
    mutating func append(bigEndian value: UInt32) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
