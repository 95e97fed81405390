import Foundation
import PermitFoundation
import PermitModel

/// An issued permit as a document (`Schemas/permit.schema.json`): the application's fields,
/// as in the application file (slugs, dates, full document numbers), plus the permit `number`,
/// the departments that approved it, their conditions and the time of issuance.
///
/// `permit seal` reads this document; issuance builds it from the stored application. Both turn
/// it into claims with `claims()`, which masks and encodes: there is one path from an
/// application to a payload.
public struct IssuedPermit: Codable, Sendable, Hashable {
    public var application: Application
    /// 12 digits: the issuing authority's division code and a 6-digit serial.
    public var number: String
    /// Department codes such as "HEALTH".
    public var approvedBy: [String]
    public var conditions: [String]
    /// RFC 3339.
    public var issuedAt: String

    public init(application: Application, number: String, approvedBy: [String], conditions: [String], issuedAt: Date) {
        self.application = application
        self.number = number
        self.approvedBy = approvedBy
        self.conditions = conditions
        self.issuedAt = RFC3339.string(issuedAt)
    }

    private enum ExtraKeys: String, CodingKey { case number, approvedBy, conditions, issuedAt }

    public init(from decoder: Decoder) throws {
        application = try Application(from: decoder)
        let c = try decoder.container(keyedBy: ExtraKeys.self)
        number = try c.decode(String.self, forKey: .number)
        approvedBy = try c.decode([String].self, forKey: .approvedBy)
        conditions = try c.decodeIfPresent([String].self, forKey: .conditions) ?? []
        issuedAt = try c.decode(String.self, forKey: .issuedAt)
    }

    public func encode(to encoder: Encoder) throws {
        try application.encode(to: encoder)
        var c = encoder.container(keyedBy: ExtraKeys.self)
        try c.encode(number, forKey: .number)
        try c.encode(approvedBy, forKey: .approvedBy)
        if !conditions.isEmpty { try c.encode(conditions, forKey: .conditions) }
        try c.encode(issuedAt, forKey: .issuedAt)
    }

    /// Reads a permit document from JSON, reporting what is wrong as problems.
    public static func decode(json data: Data) throws(ProblemList) -> IssuedPermit {
        do {
            return try JSONDecoder().decode(IssuedPermit.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw ProblemList([Problem(code: "permit.missingField", message: "\(path) is missing", field: path, rule: "required by permit.schema.json")])
        } catch let DecodingError.typeMismatch(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ProblemList([Problem(code: "permit.wrongType", message: "\(path): \(context.debugDescription)", field: path, rule: "type given by permit.schema.json")])
        } catch {
            throw ProblemList([Problem(code: "permit.unreadable", message: "the permit document is not valid JSON: \(error)", rule: "permit.schema.json")])
        }
    }

    /// The CWT claims of this permit: masked, coded, and checked against the payload limits.
    /// Every problem is reported at once; nothing is ever truncated.
    public func claims() throws(ProblemList) -> PermitClaims {
        var problems: [Problem] = []
        func problem(_ field: String, _ value: String, _ rule: String) {
            problems.append(Problem(code: "permit.invalid", message: "\(field) \"\(value)\" breaks the rule: \(rule)", field: field, value: value, rule: rule))
        }
        func nfc(_ s: String) -> String { s.nfc }
        func limited(_ field: String, _ text: String, _ max: Int) -> String {
            let t = nfc(text)
            if t.unicodeScalars.count > max { problem(field, t, "at most \(max) characters in the payload") }
            return t
        }
        let a = application.normalized()

        if number.utf8.count != 12 || !number.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            problem("number", number, "12 digits: the authority's division code and a 6-digit serial")
        }
        guard let issued = RFC3339.date(issuedAt) else {
            problem("issuedAt", issuedAt, "an RFC 3339 time")
            throw ProblemList(problems)
        }
        var period: ValidityPeriod?
        if let from = CalendarDay(iso: a.validity.from), let to = CalendarDay(iso: a.validity.to), from <= to {
            period = ValidityPeriod(from: from, to: to)
        } else {
            problem("validity", "\(a.validity.from)…\(a.validity.to)", "two dates YYYY-MM-DD with from ≤ to")
        }
        let color = a.vehicle.parsedPlateColor
        if color == nil { problem("vehicle.plateColor", a.vehicle.plateColor, "one of \(PlateColor.allCases.map(\.rawValue).joined(separator: ", "))") }
        if !PayloadLimits.crew.contains(a.crew.count) { problem("crew", "\(a.crew.count)", "1 to 3 crew members") }
        var crew: [PermitPayload.CrewMember] = []
        for (i, m) in a.crew.enumerated() {
            let type = m.parsedDocumentType
            if type == nil { problem("crew[\(i)].documentType", m.documentType ?? "", "a known document type") }
            let role = m.parsedRole
            if role == nil { problem("crew[\(i)].role", m.role, "driver or escort") }
            crew.append(.init(name: limited("crew[\(i)].name", m.name, PayloadLimits.crewName),
                              maskedDocument: Masking.document(m.idNumber, type: type ?? .residentID),
                              maskedPhone: Masking.phone(m.phone), role: UInt64(role?.code ?? 0)))
        }
        var categories: [UInt64] = []
        for (i, slug) in a.cargo.categories.enumerated() {
            if let c = CargoCategory.withSlug(slug) { categories.append(UInt64(c.code)) } else { problem("cargo.categories[\(i)]", slug, "a cargo category slug") }
        }
        if categories.isEmpty && a.cargo.categories.isEmpty { problem("cargo.categories", "[]", "at least one category") }
        if let w = a.cargo.weightKg, w <= 0 { problem("cargo.weightKg", "\(w)", "a positive whole number of kilograms") }
        func place(_ field: String, _ p: Application.Place) -> PermitPayload.Place {
            guard let county = UInt64(p.county), p.county.utf8.count == 6 else {
                problem("\(field).county", p.county, "a 6-digit county code")
                return .init(county: 0, address: nil)
            }
            // A longer address stays on the paper permit only.
            return .init(county: county, address: p.payloadAddress)
        }
        let origin = place("route.origin", a.route.origin)
        let destination = place("route.destination", a.route.destination)
        var via: [UInt64] = []
        for (i, code) in (a.route.via ?? []).enumerated() {
            if let n = UInt64(code), code.utf8.count == 6 { via.append(n) } else { problem("route.via[\(i)]", code, "a 6-digit division code") }
        }
        if via.count > PayloadLimits.via { problem("route.via", "\(via.count)", "at most \(PayloadLimits.via) via points") }
        var departments: [UInt64] = []
        for (i, code) in approvedBy.enumerated() {
            if let d = Department(rawValue: code) { departments.append(UInt64(d.number)) } else { problem("approvedBy[\(i)]", code, "a department code such as HEALTH") }
        }
        if departments.isEmpty && approvedBy.isEmpty { problem("approvedBy", "[]", "at least one approving department") }
        if conditions.count > PayloadLimits.conditions { problem("conditions", "\(conditions.count)", "at most \(PayloadLimits.conditions) conditions") }
        let conds = conditions.enumerated().map { limited("conditions[\($0.offset)]", $0.element, PayloadLimits.condition) }
        let trips = a.parsedTrips
        if trips == nil { problem("trips", a.trips, "single or multiple") }
        let firm = limited("applicant.name", a.applicant.name, PayloadLimits.firmName)
        let description = limited("cargo.description", a.cargo.description, PayloadLimits.cargoDescription)

        guard problems.isEmpty, let period else { throw ProblemList(problems) }
        return PermitClaims(
            issuer: String(number.prefix(6)),
            expiresAt: UInt64(period.expires), notBefore: UInt64(period.notBefore),
            issuedAt: UInt64(max(0, issued.timeIntervalSince1970.rounded(.down))),
            permit: PermitPayload(
                number: number,
                vehicle: .init(plate: nfc(a.vehicle.plate), plateColor: UInt64(color!.code)),
                crew: crew,
                cargo: .init(categories: categories, description: description, weightKg: a.cargo.weightKg.map { UInt64($0) }),
                origin: origin, destination: destination,
                via: via.isEmpty ? nil : via,
                approvedBy: departments.sorted(),
                applicant: .init(name: firm, creditCode: a.applicant.creditCode),
                trips: UInt64(trips!.code),
                conditions: conds.isEmpty ? nil : conds))
    }
}

/// Several problems at once, as an error.
public struct ProblemList: Error, ProblemConvertible, Sendable {
    public var problems: [Problem]
    public init(_ problems: [Problem]) { self.problems = problems }
}
