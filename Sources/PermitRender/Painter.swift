import CCairo
import Foundation

/// An RGB colour with alpha, 0…1.
struct Colour {
    var r, g, b: Double
    var a: Double = 1
    init(_ hex: UInt32, alpha: Double = 1) {
        r = Double((hex >> 16) & 0xFF) / 255
        g = Double((hex >> 8) & 0xFF) / 255
        b = Double(hex & 0xFF) / 255
        a = alpha
    }
    static let white = Colour(0xFFFFFF)
    static let black = Colour(0x000000)
}

struct Rect {
    var x, y, w, h: Double
    var maxX: Double { x + w }
    var maxY: Double { y + h }
    func inset(_ dx: Double, _ dy: Double) -> Rect { Rect(x: x + dx, y: y + dy, w: w - 2 * dx, h: h - 2 * dy) }
}

enum HAlign { case left, centre, right }
enum VAlign { case top, middle, bottom }

/// Drawing on one cairo context with pango text in the permit's CJK font.
/// Every text call shrinks the font until the text fits its box, so nothing overflows a cell.
final class Painter {
    static let fontFamily = "WenQuanYi Micro Hei"
    let cr: OpaquePointer
    private let pango: OpaquePointer
    private let layout: OpaquePointer
    private let fontOptions: OpaquePointer

    init(_ cr: OpaquePointer) {
        self.cr = cr
        pango = pango_cairo_create_context(cr)
        // Unhinted metrics: glyph advances must scale exactly in millimetre user units and in PDF.
        fontOptions = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(fontOptions, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_hint_style(fontOptions, CAIRO_HINT_STYLE_NONE)
        pango_cairo_context_set_font_options(pango, fontOptions)
        // Pango rounds glyph positions to whole user units by default; ours are millimetres.
        pango_context_set_round_glyph_positions(pango, 0)
        layout = pango_layout_new(pango)
    }

    deinit {
        g_object_unref(UnsafeMutableRawPointer(layout))
        g_object_unref(UnsafeMutableRawPointer(pango))
        cairo_font_options_destroy(fontOptions)
    }

    // MARK: shapes

    func fill(_ r: Rect, _ c: Colour) {
        setColour(c)
        cairo_rectangle(cr, r.x, r.y, r.w, r.h)
        cairo_fill(cr)
    }

    func stroke(_ r: Rect, _ c: Colour, width: Double) {
        setColour(c)
        cairo_set_line_width(cr, width)
        cairo_rectangle(cr, r.x, r.y, r.w, r.h)
        cairo_stroke(cr)
    }

    func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: Colour, width: Double) {
        setColour(c)
        cairo_set_line_width(cr, width)
        cairo_move_to(cr, x0, y0)
        cairo_line_to(cr, x1, y1)
        cairo_stroke(cr)
    }

    func roundedRect(_ r: Rect, radius: Double) {
        let rad = min(radius, r.w / 2, r.h / 2)
        cairo_new_sub_path(cr)
        cairo_arc(cr, r.maxX - rad, r.y + rad, rad, -.pi / 2, 0)
        cairo_arc(cr, r.maxX - rad, r.maxY - rad, rad, 0, .pi / 2)
        cairo_arc(cr, r.x + rad, r.maxY - rad, rad, .pi / 2, .pi)
        cairo_arc(cr, r.x + rad, r.y + rad, rad, .pi, 3 * .pi / 2)
        cairo_close_path(cr)
    }

    func setColour(_ c: Colour) {
        cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a)
    }

    /// Draws the code's dark modules as one filled path of row runs, `module` units per module,
    /// with the matrix's top-left (inside the quiet zone) at (x, y).
    func qr(_ code: QRCode, x: Double, y: Double, module: Double) {
        cairo_save(cr)
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE)
        setColour(.black)
        for row in 0..<code.width {
            var col = 0
            while col < code.width {
                guard code.isDark(x: col, y: row) else { col += 1; continue }
                var run = 1
                while code.isDark(x: col + run, y: row) { run += 1 }
                cairo_rectangle(cr, x + Double(col) * module, y + Double(row) * module, Double(run) * module, module)
                col += run
            }
        }
        cairo_fill(cr)
        cairo_restore(cr)
    }

    // MARK: text

    struct Font {
        var size: Double
        var bold = false
        var family = Painter.fontFamily
        /// Extra space between characters, in user units.
        var letterSpacing: Double = 0
    }

    /// Lays out `text` in `box` (wrapping at the box's width), shrinking the font down to
    /// `minSize` until it fits; at the minimum size, lines that still do not fit end in "…".
    /// Returns the height used.
    @discardableResult
    func text(_ text: String, in box: Rect, font: Font, colour: Colour,
              align: HAlign = .left, valign: VAlign = .middle, minSize: Double? = nil,
              asPath: Bool = false) -> Double {
        guard !text.isEmpty, box.w > 0, box.h > 0 else { return 0 }
        let floor = minSize ?? font.size * 0.6
        var size = font.size
        var height = 0.0
        while true {
            height = prepare(text, width: box.w, font: Font(size: size, bold: font.bold, family: font.family,
                                                            letterSpacing: font.letterSpacing * size / font.size),
                             align: align, maxHeight: nil)
            if height <= box.h + 0.01 || size <= floor { break }
            size = max(floor, size * 0.92)
        }
        if height > box.h + 0.01 {
            height = prepare(text, width: box.w, font: Font(size: size, bold: font.bold, family: font.family,
                                                            letterSpacing: font.letterSpacing * size / font.size),
                             align: align, maxHeight: box.h)
        }
        let y: Double
        switch valign {
        case .top: y = box.y
        case .middle: y = box.y + (box.h - height) / 2
        case .bottom: y = box.maxY - height
        }
        setColour(colour)
        cairo_move_to(cr, box.x, y)
        if asPath {
            pango_cairo_layout_path(cr, layout)
            cairo_fill(cr)
        } else {
            pango_cairo_show_layout(cr, layout)
        }
        return height
    }

    /// Sets up the shared layout and returns its logical height.
    private func prepare(_ text: String, width: Double?, font: Font, align: HAlign, maxHeight: Double?) -> Double {
        pango_cairo_update_layout(cr, layout)
        let desc = pango_font_description_new()!
        defer { pango_font_description_free(desc) }
        pango_font_description_set_family(desc, font.family)
        pango_font_description_set_weight(desc, font.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL)
        pango_font_description_set_absolute_size(desc, font.size * Double(PANGO_SCALE))
        pango_layout_set_font_description(layout, desc)
        if font.letterSpacing != 0 {
            let attrs = pango_attr_list_new()!
            pango_attr_list_insert(attrs, pango_attr_letter_spacing_new(Int32(font.letterSpacing * Double(PANGO_SCALE))))
            pango_layout_set_attributes(layout, attrs)
            pango_attr_list_unref(attrs)
        } else {
            pango_layout_set_attributes(layout, nil)
        }
        pango_layout_set_text(layout, text, -1)
        if let width {
            pango_layout_set_width(layout, Int32(width * Double(PANGO_SCALE)))
            pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR)
        } else {
            pango_layout_set_width(layout, -1)
        }
        switch align {
        case .left: pango_layout_set_alignment(layout, PANGO_ALIGN_LEFT)
        case .centre: pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER)
        case .right: pango_layout_set_alignment(layout, PANGO_ALIGN_RIGHT)
        }
        if let maxHeight {
            pango_layout_set_height(layout, Int32(maxHeight * Double(PANGO_SCALE)))
            pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END)
        } else {
            pango_layout_set_height(layout, -1)
            pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_NONE)
        }
        var w: Int32 = 0, h: Int32 = 0
        pango_layout_get_size(layout, &w, &h)
        return Double(h) / Double(PANGO_SCALE)
    }
}
