import CCairo
import Foundation

/// The phone card, designed on a 1080 × 1920 canvas and scaled to the requested width.
struct CardLayout {
    static let width = 1080.0
    static let height = 1920.0

    let painter: Painter
    let permit: PaperPermit
    let code: QRCode
    /// Device pixels per design unit.
    let scale: Double

    private var cr: OpaquePointer { painter.cr }

    func draw() {
        painter.fill(Rect(x: 0, y: 0, w: Self.width, h: Self.height), Palette.ground)
        header()
        plate()
        let panelBottom = qrPanel(top: 436)
        fields(top: panelBottom + 30)
    }

    private func header() {
        painter.fill(Rect(x: 0, y: 0, w: Self.width, h: 230), Palette.ink)
        painter.text("重点物资运输车辆通行证", in: Rect(x: 40, y: 52, w: 1000, h: 86),
                     font: .init(size: 68, bold: true, letterSpacing: 4), colour: .white, align: .centre)
        painter.text("电子通行证 · 全国互认   Key Materials Transport Vehicle Permit", in: Rect(x: 40, y: 148, w: 1000, h: 44),
                     font: .init(size: 30), colour: Colour(0xD6EBD0), align: .centre)
    }

    /// Plate in its colours: blue, yellow, black, white, new-energy green, yellow-green.
    private var plateColours: (ground: Colour, ink: Colour) {
        let name = permit.plateColor
        if name.contains("黄绿") || name.lowercased().contains("yellow-green") { return (Colour(0xB8D94A), .black) }
        if name.contains("绿") || name.lowercased().contains("green") { return (Colour(0x7ED58C), .black) }
        if name.contains("黄") || name.lowercased().contains("yellow") { return (Colour(0xF2C230), .black) }
        if name.contains("蓝") || name.lowercased().contains("blue") { return (Colour(0x1F4FB3), .white) }
        if name.contains("黑") || name.lowercased().contains("black") { return (Colour(0x111111), .white) }
        return (.white, .black)
    }

    private func plate() {
        let (ground, ink) = plateColours
        let box = Rect(x: 200, y: 254, w: 680, h: 130)
        painter.roundedRect(box, radius: 18)
        painter.setColour(ground)
        cairo_fill_preserve(cr)
        painter.setColour(Colour(0x333333))
        cairo_set_line_width(cr, 4)
        cairo_stroke(cr)
        painter.roundedRect(box.inset(10, 10), radius: 10)
        painter.setColour(ink)
        cairo_set_line_width(cr, 3)
        cairo_stroke(cr)
        painter.text(permit.plate, in: box.inset(30, 14), font: .init(size: 88, bold: true, letterSpacing: 6),
                     colour: ink, align: .centre)
        var caption = permit.plateColor
        if let type = permit.vehicleType, !type.isEmpty { caption += " · \(type)" }
        painter.text(caption, in: Rect(x: 40, y: 390, w: 1000, h: 32), font: .init(size: 27),
                     colour: Palette.secondary, align: .centre)
    }

    /// The white panel with the QR code on whole device pixels. Returns the panel's bottom.
    private func qrPanel(top: Double) -> Double {
        let modules = code.sizeWithQuietZone()
        // Whole device pixels per module, as large as fits 860 design units.
        let modulePixels = max(1, Int((860 * scale).rounded(.down)) / modules)
        let sideDesign = Double(modulePixels * modules) / scale
        let panel = Rect(x: 60, y: top, w: 960, h: sideDesign + 150)
        painter.roundedRect(panel, radius: 28)
        painter.setColour(.white)
        cairo_fill(cr)
        // Draw the matrix in device space, snapped to pixels.
        let originX = ((Self.width / 2 - sideDesign / 2) * scale).rounded()
        let originY = ((top + 24) * scale).rounded()
        cairo_save(cr)
        cairo_identity_matrix(cr)
        let quiet = Double(QRCode.defaultQuietZone * modulePixels)
        painter.qr(code, x: originX + quiet, y: originY + quiet, module: Double(modulePixels))
        cairo_restore(cr)
        let textTop = top + 24 + sideDesign + 6
        painter.text("编号 \(permit.number)", in: Rect(x: 80, y: textTop, w: 920, h: 60),
                     font: .init(size: 46, bold: true, letterSpacing: 2), colour: Palette.red, align: .centre)
        painter.text("请出示此码供检查站扫码核验 · Show this code at the checkpoint", in: Rect(x: 80, y: textTop + 62, w: 920, h: 40),
                     font: .init(size: 26), colour: Palette.secondary, align: .centre)
        return panel.maxY
    }

    private func fields(top: Double) {
        let crew = permit.crew.map { "\($0.name)（\($0.role)）" }.joined(separator: "  ")
        var route = permit.origin.name
        for v in permit.via { route += " → \(v)" }
        route += " → \(permit.destination.name)"
        var cargo = permit.cargoCategories.joined(separator: "、")
        if !permit.cargoDescription.isEmpty { cargo += cargo.isEmpty ? permit.cargoDescription : "：\(permit.cargoDescription)" }
        if let w = permit.weight, !w.isEmpty { cargo += "，\(w)" }
        let rows: [(String, String)] = [
            ("有效期", "\(permit.validFrom) 至 \(permit.validTo)（\(permit.trips)）"),
            ("线路", route),
            ("司乘人员", crew.isEmpty ? "—" : crew),
            ("运输物资", cargo.isEmpty ? "—" : cargo),
            ("发证机关", permit.issuingAuthority),
            ("核验电话", permit.verificationPhone),
        ]
        let available = Self.height - 40 - top
        let rowH = min(92, available / Double(rows.count))
        for (i, (label, text)) in rows.enumerated() {
            let y = top + Double(i) * rowH
            if i > 0 { painter.line(60, y, 1020, y, Colour(0xB5D3AA), width: 2) }
            painter.text(label, in: Rect(x: 60, y: y, w: 190, h: rowH), font: .init(size: 32, bold: true),
                         colour: Palette.ink, align: .left)
            painter.text(text, in: Rect(x: 250, y: y + 4, w: 770, h: rowH - 8), font: .init(size: 36),
                         colour: Palette.text, align: .left, minSize: 22)
        }
    }
}
