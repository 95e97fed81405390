import CCairo
import Foundation

/// The printable permit: the A4-landscape paper permit as PDF, and the phone card as PNG.
///
/// The paper follows the national uniform format's shape: a light-green A4 landscape sheet with
/// the title, a bordered form of labelled cells, the QR code on white at the right, and the
/// issuing authority's stamp. Text is laid out by pango in WenQuanYi Micro Hei, embedded in the
/// PDF as real text (pdftotext extracts it).
public enum PermitDocument {
    /// A4 landscape width in PDF points (297 mm).
    public static let pageWidthPoints = 297.0 / 25.4 * 72
    /// A4 landscape height in PDF points (210 mm).
    public static let pageHeightPoints = 210.0 / 25.4 * 72
    /// The smallest printed QR width, quiet zone included (permit-payload.md §4).
    public static let minimumQRWidthMillimetres = 45.0
    /// The smallest printed module (permit-payload.md §4).
    public static let minimumModuleMillimetres = 0.33
    /// The module size the paper permit aims for: a margin above the minimum for printer spread.
    public static let targetModuleMillimetres = 0.35

    /// Where and how large the QR code is printed on the paper permit, in millimetres from the
    /// page's top-left corner. `x`, `y` and `widthMillimetres` include the quiet zone.
    public struct QRPlacement: Sendable, Equatable {
        /// QR version of the code.
        public let version: Int
        /// Modules per side, quiet zone included.
        public let modulesWithQuietZone: Int
        /// Printed side, quiet zone included.
        public let widthMillimetres: Double
        /// Printed module side.
        public let moduleMillimetres: Double
        /// Left edge of the quiet zone.
        public let x: Double
        /// Top edge of the quiet zone.
        public let y: Double
    }

    /// The QR placement the paper layout uses for `code`: never narrower than 45 mm, never under
    /// 0.33 mm per module (0.35 mm targeted), so larger codes are printed larger.
    public static func qrPlacement(for code: QRCode) -> QRPlacement {
        let modules = code.sizeWithQuietZone()
        let width = max(minimumQRWidthMillimetres, Double(modules) * targetModuleMillimetres)
        let centreX = PaperLayout.qrColumn.x + PaperLayout.qrColumn.w / 2
        return QRPlacement(version: code.version, modulesWithQuietZone: modules, widthMillimetres: width,
                           moduleMillimetres: width / Double(modules),
                           x: centreX - width / 2, y: PaperLayout.qrTop)
    }

    /// The paper permits as one PDF, one A4-landscape page per permit, in order.
    /// - Throws: `RenderError` `invalidArgument` for an empty list, `textTooLarge` for a payload
    ///   that no QR code holds, `drawingFailed` if cairo fails.
    public static func pdf(_ permits: [PaperPermit]) throws -> Data {
        guard !permits.isEmpty else {
            throw RenderError(code: RenderError.invalidArgumentCode, message: "no permits to print: the list is empty")
        }
        let codes = try permits.map { try QRCode(text: $0.payload, ecc: $0.errorCorrection) }
        final class Sink { var data = Data() }
        let sink = Sink()
        try withExtendedLifetime(sink) {
            guard let surface = cairo_pdf_surface_create_for_stream({ closure, bytes, length in
                Unmanaged<Sink>.fromOpaque(closure!).takeUnretainedValue().data.append(bytes!, count: Int(length))
                return CAIRO_STATUS_SUCCESS
            }, Unmanaged.passUnretained(sink).toOpaque(), pageWidthPoints, pageHeightPoints) else {
                throw RenderError(code: RenderError.drawingFailedCode, message: "cairo could not create a PDF surface")
            }
            defer { cairo_surface_destroy(surface) }
            try checkCairo(cairo_surface_status(surface), "creating a PDF")
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE,
                                           permits.count == 1 ? "重点物资运输车辆通行证 \(permits[0].number)" : "重点物资运输车辆通行证")
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "freight-permit")
            let cr = cairo_create(surface)!
            defer { cairo_destroy(cr) }
            // Draw in millimetres.
            cairo_scale(cr, 72 / 25.4, 72 / 25.4)
            let painter = Painter(cr)
            let guilloche = PaperLayout.guillocheBand()
            defer { cairo_surface_destroy(guilloche) }
            for (permit, code) in zip(permits, codes) {
                PaperLayout(painter: painter, permit: permit, code: code, guillocheBand: guilloche).draw()
                cairo_show_page(cr)
                try checkCairo(cairo_status(cr), "drawing permit \(permit.number)")
            }
            cairo_surface_finish(surface)
            try checkCairo(cairo_surface_status(surface), "finishing the PDF")
        }
        return sink.data
    }

    /// Writes `pdf(permits)` to `url` atomically: on any error nothing is left half-written.
    /// - Throws: as `pdf(_:)`, and `RenderError` `io` if the file cannot be written.
    public static func pdf(_ permits: [PaperPermit], to url: URL) throws {
        let data = try pdf(permits)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw RenderError(code: RenderError.ioCode, message: "cannot write PDF \(url.path): \(error.localizedDescription)")
        }
    }

    /// The phone card: a portrait PNG (`widthPixels` × 16/9 of it) with the key fields and a big
    /// QR code drawn on whole pixels per module, for showing on a phone screen at a checkpoint.
    /// - Throws: `RenderError` `invalidArgument` for a width outside 360…4320, `textTooLarge`
    ///   for a payload that no QR code holds, `drawingFailed` if cairo fails.
    public static func cardPNG(_ permit: PaperPermit, widthPixels: Int = 1080) throws -> Data {
        guard (360...4320).contains(widthPixels) else {
            throw RenderError(code: RenderError.invalidArgumentCode, message: "card width \(widthPixels) px is outside 360…4320")
        }
        let code = try QRCode(text: permit.payload, ecc: permit.errorCorrection)
        let height = Int((Double(widthPixels) * CardLayout.height / CardLayout.width).rounded())
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(widthPixels), Int32(height)) else {
            throw RenderError(code: RenderError.drawingFailedCode, message: "cairo could not create a \(widthPixels)×\(height) image")
        }
        defer { cairo_surface_destroy(surface) }
        try checkCairo(cairo_surface_status(surface), "creating a \(widthPixels)×\(height) image")
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr) }
        let scale = Double(widthPixels) / CardLayout.width
        cairo_scale(cr, scale, scale)
        let painter = Painter(cr)
        CardLayout(painter: painter, permit: permit, code: code, scale: scale).draw()
        try checkCairo(cairo_status(cr), "drawing the card of permit \(permit.number)")
        cairo_surface_flush(surface)
        return try writePNG(surface)
    }
}

// MARK: - Palette

enum Palette {
    static let ground = Colour(0xE2F0DC)
    static let guilloche = Colour(0xC9E2C0)
    static let ink = Colour(0x1F5B36)         // lines, labels
    static let labelGround = Colour(0xCDE5C4)
    static let text = Colour(0x161616)
    static let secondary = Colour(0x3F5F4A)
    static let red = Colour(0xC4161C)
    static let seal = Colour(0xD7191F, alpha: 0.82)
}

func millimetres(points: Double) -> Double { points * 25.4 / 72 }

// MARK: - Paper layout (millimetres, A4 landscape)

struct PaperLayout {
    let painter: Painter
    let permit: PaperPermit
    let code: QRCode
    /// One band of the background guilloche (`guillocheBand()`), drawn once and placed at every band.
    let guillocheBand: OpaquePointer

    static let page = Rect(x: 0, y: 0, w: 297, h: 210)
    static let tableTop = 33.0
    static let tableBottom = 185.0
    static let form = Rect(x: 14, y: tableTop, w: 197, h: tableBottom - tableTop)
    static let qrColumn = Rect(x: 211, y: tableTop, w: 72, h: tableBottom - tableTop)
    static let qrTop = tableTop + 13
    static let labelWidth = 26.0

    static let valueFont = Painter.Font(size: millimetres(points: 11))
    static let labelFont = Painter.Font(size: millimetres(points: 10), bold: true)
    static let labelEnglishFont = Painter.Font(size: millimetres(points: 5.5))

    private var cr: OpaquePointer { painter.cr }

    func draw() {
        background()
        header()
        formTable()
        qrColumn()
        footer()
    }

    private func background() {
        painter.fill(Self.page, Palette.ground)
        // The bands differ only by their vertical offset, so the PDF holds one band as a form
        // XObject and places it 21 times: the page's content is 21 times smaller than drawing
        // every wave (690 KB of path data before) and renders several times faster.
        for band in stride(from: 12.0, through: 200.0, by: 9.4) {
            cairo_save(cr)
            cairo_set_source_surface(cr, guillocheBand, 0, band)
            cairo_rectangle(cr, Self.guillocheExtents.x, band + Self.guillocheExtents.y,
                            Self.guillocheExtents.w, Self.guillocheExtents.h)
            cairo_fill(cr)
            cairo_restore(cr)
        }
        // Double frame.
        painter.stroke(Rect(x: 7, y: 7, w: 283, h: 196), Palette.ink, width: 0.9)
        painter.stroke(Rect(x: 8.6, y: 8.6, w: 279.8, h: 192.8), Palette.ink, width: 0.25)
    }

    /// Where a guilloche band draws, relative to its centre line (waves reach ±3 mm, plus the line width).
    static let guillocheExtents = Rect(x: 8.5, y: -3.5, w: 280, h: 7)

    /// One band of the guilloche: three interleaved sine waves about y = 0, a fine pattern that
    /// is hard to copy and quiet to read over. The caller destroys the surface.
    static func guillocheBand() -> OpaquePointer {
        var extents = cairo_rectangle_t(x: guillocheExtents.x, y: guillocheExtents.y,
                                        width: guillocheExtents.w, height: guillocheExtents.h)
        let surface = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents)!
        let cr = cairo_create(surface)!
        defer { cairo_destroy(cr) }
        Painter(cr).setColour(Palette.guilloche)
        cairo_set_line_width(cr, 0.12)
        for phase in 0..<3 {
            let φ = Double(phase) * 2 * .pi / 3
            cairo_move_to(cr, 9, 2.2 * sin(φ))
            var x = 9.0
            while x <= 288 {
                cairo_line_to(cr, x, 2.2 * sin(x / 7.5 + φ) + 0.8 * sin(x / 2.1 - φ))
                x += 0.6
            }
        }
        cairo_stroke(cr)
        return surface
    }

    private func header() {
        painter.text("重点物资运输车辆通行证", in: Rect(x: 40, y: 12, w: 217, h: 12),
                     font: .init(size: millimetres(points: 24), bold: true, letterSpacing: 1.2),
                     colour: Palette.ink, align: .centre)
        painter.text("KEY MATERIALS TRANSPORT VEHICLE PERMIT", in: Rect(x: 40, y: 24.2, w: 217, h: 4.4),
                     font: .init(size: millimetres(points: 7.5), letterSpacing: 0.6),
                     colour: Palette.secondary, align: .centre)
        painter.text("全国通用 · 全国互认", in: Rect(x: 14, y: 24.2, w: 60, h: 4.4),
                     font: .init(size: millimetres(points: 8), bold: true), colour: Palette.ink)
        painter.text("No. \(permit.number)", in: Rect(x: 203, y: 24.2, w: 80, h: 4.4),
                     font: .init(size: millimetres(points: 9), bold: true, letterSpacing: 0.2),
                     colour: Palette.red, align: .right)
    }

    // A labelled cell: label block (Chinese over English) then the value area, which `value` fills.
    private func labelCell(_ r: Rect, _ zh: String, _ en: String) {
        painter.fill(r, Palette.labelGround)
        let zhH = Self.labelFont.size * 1.35
        let enH = Self.labelEnglishFont.size * 1.5
        let total = zhH + enH
        let top = r.y + (r.h - total) / 2
        painter.text(zh, in: Rect(x: r.x + 1, y: top, w: r.w - 2, h: zhH), font: Self.labelFont,
                     colour: Palette.ink, align: .centre)
        painter.text(en, in: Rect(x: r.x + 1, y: top + zhH, w: r.w - 2, h: enH), font: Self.labelEnglishFont,
                     colour: Palette.secondary, align: .centre)
    }

    private func value(_ text: String, _ r: Rect, font: Painter.Font = PaperLayout.valueFont,
                       colour: Colour = Palette.text, align: HAlign = .left) {
        painter.text(text, in: r.inset(2.2, 0.9), font: font, colour: colour, align: align, valign: .middle)
    }

    private func rule(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double) {
        painter.line(x0, y0, x1, y1, Palette.ink, width: 0.25)
    }

    /// One row of (label, English label, value, label width, value width) cells across the form.
    private func row(_ y: Double, _ h: Double, _ cells: [(String, String, String, Double, Double, Painter.Font?, Colour?)]) {
        var x = Self.form.x
        for (zh, en, text, lw, vw, font, colour) in cells {
            labelCell(Rect(x: x, y: y, w: lw, h: h), zh, en)
            rule(x + lw, y, x + lw, y + h)
            value(text, Rect(x: x + lw, y: y, w: vw, h: h), font: font ?? Self.valueFont, colour: colour ?? Palette.text)
            x += lw + vw
            if x < Self.form.maxX - 0.1 { rule(x, y, x, y + h) }
        }
        rule(Self.form.x, y + h, Self.form.maxX, y + h)
    }

    private func formTable() {
        let f = Self.form
        let lw = Self.labelWidth
        let dash = "—"
        var y = f.y
        painter.fill(Rect(x: f.x, y: f.y, w: f.w + Self.qrColumn.w, h: f.h), Colour(0xEEF7EA, alpha: 0.55))

        row(y, 11, [("编号", "Permit No.", permit.number, lw, 105,
                     .init(size: millimetres(points: 14), bold: true, letterSpacing: 0.5), Palette.red),
                    ("发证日期", "Issued", permit.issuedAt, lw, 40, nil, nil)])
        y += 11
        row(y, 13, [("车牌号码", "Plate No.", permit.plate, lw, 50, .init(size: millimetres(points: 17), bold: true, letterSpacing: 0.4), nil),
                    ("车牌颜色", "Plate colour", permit.plateColor, 22, 30, nil, nil),
                    ("车辆类型", "Vehicle type", permit.vehicleType ?? dash, 22, 47, nil, nil)])
        y += 13
        y = crewTable(y, h: 36)
        cargoRow(y, h: 15)
        y += 15
        placeRow(y, 12, "起点", "Origin", permit.origin)
        y += 12
        placeRow(y, 12, "终点", "Destination", permit.destination)
        y += 12
        row(y, 9, [("途经", "Via", permit.via.isEmpty ? dash : permit.via.joined(separator: " → "), lw, f.w - lw, nil, nil)])
        y += 9
        row(y, 11, [("有效期", "Valid", "\(permit.validFrom) 至 \(permit.validTo)", lw, 105,
                     .init(size: millimetres(points: 12), bold: true), nil),
                    ("通行次数", "Trips", permit.trips, lw, 40, nil, nil)])
        y += 11
        row(y, 10, [("审批部门", "Approved by", permit.departments.isEmpty ? dash : permit.departments.joined(separator: "、"),
                     lw, f.w - lw, nil, nil)])
        y += 10
        let conditions = permit.conditions.isEmpty ? "无" :
            permit.conditions.count == 1 ? permit.conditions[0] :
            permit.conditions.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "；")
        row(y, 13, [("附加条件", "Conditions", conditions, lw, f.w - lw, nil, nil)])
        y += 13
        row(y, f.maxY - y, [("发证机关", "Issuing authority", permit.issuingAuthority, lw, 105, nil, nil),
                            ("核验电话", "Verification", permit.verificationPhone, lw, 40,
                             .init(size: millimetres(points: 11), bold: true), nil)])
        // Frame of the whole form, QR column included.
        painter.stroke(Rect(x: f.x, y: f.y, w: f.w + Self.qrColumn.w, h: f.h), Palette.ink, width: 0.6)
        painter.line(f.maxX, f.y, f.maxX, f.maxY, Palette.ink, width: 0.45)
    }

    private func crewTable(_ top: Double, h: Double) -> Double {
        let f = Self.form
        let lw = Self.labelWidth
        labelCell(Rect(x: f.x, y: top, w: lw, h: h), "司乘人员", "Crew")
        rule(f.x + lw, top, f.x + lw, top + h)
        let headerH = 7.0
        let columns: [(String, String, Double)] = [("姓名", "Name", 40), ("身份", "Role", 25),
                                                   ("证件号码", "ID document", 61), ("联系电话", "Phone", 45)]
        var x = f.x + lw
        painter.fill(Rect(x: x, y: top, w: f.w - lw, h: headerH), Colour(0xD9ECD2))
        for (zh, en, w) in columns {
            painter.text("\(zh) \(en)", in: Rect(x: x + 1, y: top, w: w - 2, h: headerH),
                         font: .init(size: millimetres(points: 8.5), bold: true), colour: Palette.ink, align: .centre)
            x += w
            if x < f.maxX - 0.1 { rule(x, top, x, top + h) }
        }
        rule(f.x + lw, top + headerH, f.maxX, top + headerH)
        let lines = max(3, permit.crew.count)
        let lineH = (h - headerH) / Double(lines)
        for i in 0..<lines {
            let y = top + headerH + Double(i) * lineH
            if i > 0 { painter.line(f.x + lw, y, f.maxX, y, Palette.ink, width: 0.12) }
            guard i < permit.crew.count else { continue }
            let m = permit.crew[i]
            x = f.x + lw
            let texts = [m.name, m.role, m.maskedDocument, m.maskedPhone]
            for (j, (_, _, w)) in columns.enumerated() {
                let font: Painter.Font = j == 0 ? .init(size: millimetres(points: 12), bold: true)
                    : j == 2 || j == 3 ? .init(size: millimetres(points: 11), letterSpacing: 0.15) : Self.valueFont
                painter.text(texts[j], in: Rect(x: x + 1.5, y: y, w: w - 3, h: lineH), font: font,
                             colour: Palette.text, align: .centre)
                x += w
            }
        }
        rule(f.x, top + h, f.maxX, top + h)
        return top + h
    }

    private func cargoRow(_ y: Double, h: Double) {
        let f = Self.form
        let lw = Self.labelWidth
        labelCell(Rect(x: f.x, y: y, w: lw, h: h), "运输物资", "Cargo")
        rule(f.x + lw, y, f.x + lw, y + h)
        let v = Rect(x: f.x + lw, y: y, w: 105, h: h).inset(2.2, 1)
        let categories = permit.cargoCategories.isEmpty ? "—" : permit.cargoCategories.joined(separator: "、")
        painter.text(categories, in: Rect(x: v.x, y: v.y, w: v.w, h: v.h * 0.5),
                     font: .init(size: millimetres(points: 11), bold: true), colour: Palette.text, valign: .middle)
        painter.text(permit.cargoDescription, in: Rect(x: v.x, y: v.y + v.h * 0.5, w: v.w, h: v.h * 0.5),
                     font: Self.valueFont, colour: Palette.text, valign: .middle)
        let x = f.x + lw + 105
        rule(x, y, x, y + h)
        labelCell(Rect(x: x, y: y, w: lw, h: h), "重量", "Weight")
        rule(x + lw, y, x + lw, y + h)
        value(permit.weight ?? "—", Rect(x: x + lw, y: y, w: 40, h: h))
        rule(f.x, y + h, f.maxX, y + h)
    }

    private func placeRow(_ y: Double, _ h: Double, _ zh: String, _ en: String, _ place: PaperPermit.Place) {
        let f = Self.form
        let lw = Self.labelWidth
        labelCell(Rect(x: f.x, y: y, w: lw, h: h), zh, en)
        rule(f.x + lw, y, f.x + lw, y + h)
        let v = Rect(x: f.x + lw, y: y, w: f.w - lw, h: h).inset(2.2, 0.8)
        if let address = place.address, !address.isEmpty {
            painter.text(place.name, in: Rect(x: v.x, y: v.y, w: v.w, h: v.h * 0.52),
                         font: .init(size: millimetres(points: 11), bold: true), colour: Palette.text, valign: .bottom)
            painter.text(address, in: Rect(x: v.x, y: v.y + v.h * 0.52, w: v.w, h: v.h * 0.48),
                         font: .init(size: millimetres(points: 9.5)), colour: Palette.secondary, valign: .top)
        } else {
            painter.text(place.name, in: v, font: .init(size: millimetres(points: 11), bold: true), colour: Palette.text)
        }
        rule(f.x, y + h, f.maxX, y + h)
    }

    private func qrColumn() {
        let c = Self.qrColumn
        painter.text("扫码核验", in: Rect(x: c.x, y: c.y + 2.2, w: c.w, h: 5.6),
                     font: .init(size: millimetres(points: 12), bold: true, letterSpacing: 0.8), colour: Palette.ink, align: .centre)
        painter.text("Scan to verify", in: Rect(x: c.x, y: c.y + 7.8, w: c.w, h: 3.4),
                     font: .init(size: millimetres(points: 6.5)), colour: Palette.secondary, align: .centre)
        let p = PermitDocument.qrPlacement(for: code)
        // White card behind the code; the quiet zone is part of it.
        painter.fill(Rect(x: p.x - 1, y: p.y - 1, w: p.widthMillimetres + 2, h: p.widthMillimetres + 2), .white)
        painter.stroke(Rect(x: p.x - 1, y: p.y - 1, w: p.widthMillimetres + 2, h: p.widthMillimetres + 2), Palette.ink, width: 0.2)
        let quiet = Double(QRCode.defaultQuietZone) * p.moduleMillimetres
        painter.qr(code, x: p.x + quiet, y: p.y + quiet, module: p.moduleMillimetres)
        let below = p.y + p.widthMillimetres + 1.6
        painter.text("QR \(code.version)-\(code.errorCorrection.rawValue) · \(String(format: "%.2f", p.moduleMillimetres)) mm/module",
                     in: Rect(x: c.x, y: below, w: c.w, h: 3.2),
                     font: .init(size: millimetres(points: 5.5)), colour: Palette.secondary, align: .centre)
        // Stamp above the authority's name at the column's foot, where a seal goes on a certificate.
        let sealRadius = 15.5
        let dateTop = c.maxY - 8
        let sealCentreY = dateTop - 1 - sealRadius
        let instructions = Rect(x: c.x + 4, y: below + 5, w: c.w - 8, h: sealCentreY - sealRadius - 2 - (below + 5))
        if instructions.h > 8 {
            painter.text("检查站使用核验终端扫描二维码，离线核验签名、有效期及吊销状态，核验结果以扫码为准。",
                         in: instructions, font: .init(size: millimetres(points: 8)), colour: Palette.secondary,
                         align: .centre, valign: .top)
        }
        painter.text(permit.issuingAuthority, in: Rect(x: c.x + 2, y: dateTop, w: c.w - 4, h: 5.5),
                     font: .init(size: millimetres(points: 9), bold: true), colour: Palette.text, align: .centre)
        Seal(painter: painter, authority: permit.issuingAuthority)
            .draw(centreX: c.x + c.w / 2, centreY: sealCentreY, radius: sealRadius)
    }

    private func footer() {
        let notes = "说明：1. 本通行证全国互认，纸质与电子通行证具有同等效力。2. 一车一证一线路，仅限证载车辆、人员在有效期内按证载线路通行。3. 请扫描二维码或拨打核验电话核验真伪，涂改、复制无效。"
        painter.text(notes, in: Rect(x: 14, y: 187, w: 269, h: 6), font: .init(size: millimetres(points: 7.5)),
                     colour: Palette.secondary, align: .left, valign: .top)
        painter.text("Valid nationwide. One vehicle, one permit, one route. Verify by scanning the QR code or calling the verification phone.",
                     in: Rect(x: 14, y: 192, w: 269, h: 5), font: .init(size: millimetres(points: 6)),
                     colour: Palette.secondary, align: .left, valign: .top)
    }
}

/// The issuing authority's round stamp: the name along the upper arc, a star, and the seal's use.
/// Its text is drawn as outlines, so it does not mix into the document's extractable text.
struct Seal {
    let painter: Painter
    let authority: String

    func draw(centreX cx: Double, centreY cy: Double, radius r: Double) {
        let cr = painter.cr
        cairo_save(cr)
        cairo_new_path(cr) // no stray line from the last text's current point
        painter.setColour(Palette.seal)
        cairo_set_line_width(cr, r * 0.055)
        cairo_arc(cr, cx, cy, r - r * 0.03, 0, 2 * .pi)
        cairo_stroke(cr)
        // Star.
        cairo_new_path(cr)
        for i in 0..<10 {
            let angle = -Double.pi / 2 + Double(i) * .pi / 5
            let rr = i % 2 == 0 ? r * 0.26 : r * 0.10
            let x = cx + rr * cos(angle), y = cy + rr * sin(angle)
            if i == 0 { cairo_move_to(cr, x, y) } else { cairo_line_to(cr, x, y) }
        }
        cairo_close_path(cr)
        cairo_fill(cr)
        // Name along the arc, left to right over the top, evenly spaced, glyphs sized to the spacing.
        let chars = Array(authority)
        let textRadius = r * 0.74
        let maxSpan = Double.pi * 1.3 // ends stay clear of the text under the star
        let step = chars.count > 1 ? min(0.42, maxSpan / Double(chars.count - 1)) : 0.42
        let span = step * Double(max(chars.count - 1, 0))
        let fontSize = min(r * 0.3, textRadius * step * 0.92)
        for (i, ch) in chars.enumerated() {
            let angle = -Double.pi / 2 - span / 2 + Double(i) * step
            cairo_save(cr)
            cairo_translate(cr, cx + textRadius * cos(angle), cy + textRadius * sin(angle))
            cairo_rotate(cr, angle + .pi / 2)
            painter.text(String(ch), in: Rect(x: -fontSize, y: -fontSize * 0.7, w: fontSize * 2, h: fontSize * 1.4),
                         font: .init(size: fontSize, bold: true), colour: Palette.seal, align: .centre,
                         minSize: fontSize, asPath: true)
            cairo_restore(cr)
        }
        painter.text("通行证专用章", in: Rect(x: cx - r * 0.5, y: cy + r * 0.38, w: r, h: r * 0.26),
                     font: .init(size: r * 0.15, bold: true), colour: Palette.seal, align: .centre, asPath: true)
        cairo_restore(cr)
    }
}
