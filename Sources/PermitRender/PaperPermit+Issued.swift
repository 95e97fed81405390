import Foundation
import PermitAPI
import PermitModel
import PermitSeal

/// From an issued permit, as stored, to what the paper permit and the phone card print.
///
/// The source is the issued-permit document that was sealed (`PermitRecord.document`), so the
/// paper says exactly what the QR code's signature covers, with the parts the payload leaves out
/// or masks (full addresses) printed in full and the identifiers masked as in the payload.
/// PermitRender prints its labels in Chinese and English; `language` chooses the values' names
/// (departments, cargo categories, plate colour, roles, trips, dates, weight). Division names
/// have only a Chinese form, and the authority's name stays its registered Chinese one: the
/// renderer also sets it round the seal, which is the official stamp. It lives here, beside the
/// renderer, so that the command line and a server print the same paper.
public enum PaperPermitMapping {
    /// China Standard Time, in which validity days and issue dates are counted.
    static let chinaTime = TimeZone(secondsFromGMT: 8 * 3600)!

    /// The paper permit of `permit`, issued by `authority`.
    /// - Throws: a `Problem` `export.document` when the stored document cannot be read.
    public static func paperPermit(_ permit: PermitRecord, authority: AuthorityRecord, language: DisplayLanguage,
                                   errorCorrection: QRErrorCorrection = .Q) throws -> PaperPermit {
        let issued: IssuedPermit
        do {
            issued = try IssuedPermit.decode(json: permit.document)
        } catch {
            throw Problem(code: "export.document", message: "permit \(permit.number): the stored permit document is unreadable: \(error.problems.map(\.message).joined(separator: "; "))",
                          field: "document", value: permit.number, rule: "permit.schema.json")
        }
        return paperPermit(issued, payload: permit.payload, issuedAt: permit.issuedAt, authority: authority,
                           language: language, errorCorrection: errorCorrection)
    }

    /// The paper permit of an issued-permit document, with its sealed `payload`.
    public static func paperPermit(_ issued: IssuedPermit, payload: String, issuedAt: Date, authority: AuthorityRecord,
                                   language: DisplayLanguage, errorCorrection: QRErrorCorrection = .Q) -> PaperPermit {
        let d = language
        let a = issued.application
        let crew = a.crew.map { m -> PaperPermit.CrewMember in
            let type = m.parsedDocumentType ?? .residentID
            return PaperPermit.CrewMember(name: m.name, role: CrewRole(rawValue: m.role)?.name(in: d) ?? m.role,
                                          maskedDocument: Masking.document(m.idNumber, type: type),
                                          maskedPhone: Masking.phone(m.phone))
        }
        func place(_ p: Application.Place) -> PaperPermit.Place {
            PaperPermit.Place(name: divisionName(p.county), address: p.address.flatMap { $0.isEmpty ? nil : $0 })
        }
        return PaperPermit(
            number: issued.number,
            plate: a.vehicle.plate,
            plateColor: a.vehicle.parsedPlateColor?.name(in: d) ?? a.vehicle.plateColor,
            vehicleType: a.vehicle.type.flatMap { $0.isEmpty ? nil : $0 },
            crew: crew,
            cargoCategories: a.cargo.categories.map { CargoCategory.withSlug($0)?.name(in: d) ?? $0 },
            cargoDescription: a.cargo.description,
            weight: a.cargo.weightKg.map { weight($0, language) },
            origin: place(a.route.origin),
            destination: place(a.route.destination),
            via: (a.route.via ?? []).map(divisionName),
            validFrom: day(a.validity.from, language),
            validTo: day(a.validity.to, language),
            trips: Trips(rawValue: a.trips)?.name(in: d) ?? a.trips,
            issuingAuthority: authority.name,
            verificationPhone: authority.phone,
            departments: issued.approvedBy.map { Department(rawValue: $0)?.name(in: d) ?? $0 },
            conditions: issued.conditions,
            issuedAt: time(issuedAt, language),
            payload: payload,
            errorCorrection: errorCorrection)
    }

    /// "浙江省杭州市钱塘区", or the code itself if the table does not know it.
    static func divisionName(_ code: String) -> String {
        Divisions.bundled.fullName(of: code) ?? code
    }

    /// 6100 kg → "6.1 吨" / "6.1 t"; under a tonne in kilograms.
    static func weight(_ kg: Int, _ language: DisplayLanguage) -> String {
        guard kg >= 1000 else { return language == .zh ? "\(kg) 千克" : "\(kg) kg" }
        var text = String(format: "%.3f", Double(kg) / 1000)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return language == .zh ? "\(text) 吨" : "\(text) t"
    }

    /// "2026-12-11" → "2026年12月11日" in Chinese; ISO as it is in English.
    static func day(_ iso: String, _ language: DisplayLanguage) -> String {
        let parts = iso.split(separator: "-")
        guard language == .zh, parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let dd = Int(parts[2]) else { return iso }
        return "\(y)年\(m)月\(dd)日"
    }

    /// The issue time in China Standard Time, to the minute.
    static func time(_ date: Date, _ language: DisplayLanguage) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = chinaTime
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let hm = String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
        return language == .zh ? "\(c.year!)年\(c.month!)月\(c.day!)日 \(hm)"
            : String(format: "%04d-%02d-%02d ", c.year!, c.month!, c.day!) + hm
    }
}
