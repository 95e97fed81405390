import Foundation

/// The limits an application must keep, so that nothing is ever truncated in the payload.
/// Lengths count Unicode scalars after NFC normalisation.
public enum ApplicationLimits {
    /// Reference: 1–40 characters from `A-Z a-z 0-9 - _ . /`.
    public static let referenceLength = 1...40
    /// Firm name (payload ≤ 24).
    public static let firmNameLength = 1...24
    /// Contact person's name.
    public static let contactLength = 1...24
    /// A crew member's name (payload ≤ 10).
    public static let crewNameLength = 1...10
    /// Crew size, with at least one driver.
    public static let crewCount = 1...3
    /// Cargo description (payload ≤ 24).
    public static let descriptionLength = 1...24
    /// Weight in kilograms: a positive integer up to 100 t, well above the 49 t that GB 1589
    /// allows a road train, so that only typos (grams, extra zeros) are refused.
    public static let weightKg = 1...100_000
    /// Free-text vehicle type.
    public static let vehicleTypeLength = 1...20
    /// A route end's address (the payload leaves out addresses above 16; the paper prints up to 50).
    public static let addressLength = 1...50
    /// The payload carries an address only up to this many scalars; longer ones stay on paper.
    public static let payloadAddressLength = 16
    /// Via points: at most 5.
    public static let maxVia = 5
    /// Zhejiang's maximum validity, in days, both ends counted.
    public static let defaultMaxValidityDays = 30
}

/// An application that passed every rule, with its typed values. The payload and the workflow
/// build on this rather than on raw strings.
public struct ValidApplication: Codable, Sendable, Hashable {
    /// One crew member, typed.
    public struct Crew: Codable, Sendable, Hashable {
        /// Name, NFC.
        public let name: String
        /// The identity document's type.
        public let documentType: DocumentType
        /// The document number, as given.
        public let documentNumber: String
        /// Mobile phone.
        public let phone: String
        /// Role.
        public let role: CrewRole
        /// The number masked for the payload (`330106********1234`).
        public var maskedDocument: String { Masking.document(documentNumber, type: documentType) }
        /// The phone masked for the payload (`138****5678`).
        public var maskedPhone: String { Masking.phone(phone) }
    }

    /// The application, NFC-normalised.
    public let application: Application
    /// Plate colour.
    public let plateColor: PlateColor
    /// Plate family.
    public let plateKind: LicencePlate.Kind
    /// The crew, in application order.
    public let crew: [Crew]
    /// The cargo categories, sorted by code.
    public let categories: [CargoCategory]
    /// Weight in kilograms.
    public let weightKg: Int
    /// The validity period.
    public let validity: ValidityPeriod
    /// Single or multiple trips.
    public let trips: Trips
}

/// The problems of an application that failed validation.
public struct ValidationFailure: Error, ProblemConvertible, Sendable, CustomStringConvertible {
    /// Every problem found, in field order.
    public let problems: [Problem]
    /// One problem per line.
    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

/// Checks an application against every rule at once and reports every problem.
///
/// "Today" is the day in China Standard Time at `now`, which the caller injects.
public struct ApplicationValidator: Sendable {
    /// The division table used for route checks.
    public var divisions: Divisions
    /// The province's maximum validity in days, both ends counted.
    public var maxValidityDays: Int
    /// The instant that defines "today".
    public var now: Date

    /// A validator with the given table, maximum and clock reading.
    public init(divisions: Divisions = .bundled, maxValidityDays: Int = ApplicationLimits.defaultMaxValidityDays, now: Date) {
        self.divisions = divisions
        self.maxValidityDays = maxValidityDays
        self.now = now
    }

    /// Today in China Standard Time.
    public var today: CalendarDay { CalendarDay.inChina(at: now) }

    /// Every problem of `application`; empty when it is valid. Values are reported NFC-normalised.
    public func validate(_ application: Application) -> [Problem] {
        let a = application.normalized()
        var p: [Problem] = []
        let today = self.today

        // Reference.
        if a.reference.isEmpty {
            p.append(.required("reference"))
        } else if !ApplicationLimits.referenceLength.contains(a.reference.unicodeScalars.count)
                    || !a.reference.unicodeScalars.allSatisfy(Self.isReferenceScalar) {
            let rule = "1–40 characters from A–Z, a–z, 0–9, -, _, . and /"
            p.append(Problem(code: ProblemCode.invalidReference, message: "reference \(quote(a.reference)) is not valid: \(rule)",
                             field: "reference", value: a.reference, rule: rule))
        }

        // Applicant.
        p += Self.text(a.applicant.name, field: "applicant.name", length: ApplicationLimits.firmNameLength)
        p += CreditCode.validate(a.applicant.creditCode, field: "applicant.creditCode")
        p += Self.text(a.applicant.contact, field: "applicant.contact", length: ApplicationLimits.contactLength)
        p += PhoneNumber.validate(a.applicant.phone, field: "applicant.phone", allowLandline: true)

        // Vehicle.
        p += LicencePlate.validate(plate: a.vehicle.plate, color: a.vehicle.plateColor)
        if let type = a.vehicle.type {
            p += Self.text(type, field: "vehicle.type", length: ApplicationLimits.vehicleTypeLength, optional: true)
        }

        // Crew.
        if !ApplicationLimits.crewCount.contains(a.crew.count) {
            p.append(Problem(code: ProblemCode.crewCount, message: "crew has \(a.crew.count) people; a permit carries 1 to 3",
                             field: "crew", value: String(a.crew.count), rule: "1 to 3 crew members"))
        }
        var seenDocuments: [String: Int] = [:]
        for (i, m) in a.crew.enumerated() {
            let f = "crew[\(i)]"
            p += Self.text(m.name, field: "\(f).name", length: ApplicationLimits.crewNameLength)
            if let type = m.parsedDocumentType {
                p += DocumentNumber.validate(m.idNumber, type: type, field: "\(f).idNumber", today: today)
            } else {
                let rule = "one of " + DocumentType.allCases.map(\.rawValue).joined(separator: ", ")
                p.append(Problem(code: ProblemCode.unknownDocumentType,
                                 message: "\(f).documentType \(quote(m.documentType ?? "")) is not a document type (\(rule))",
                                 field: "\(f).documentType", value: m.documentType, rule: rule))
            }
            if !m.idNumber.isEmpty {
                if let first = seenDocuments[m.idNumber] {
                    p.append(Problem(code: ProblemCode.duplicateDocument,
                                     message: "\(f).idNumber \(quote(m.idNumber)) is the same as crew[\(first)].idNumber",
                                     field: "\(f).idNumber", value: m.idNumber, rule: "each crew member is a different person"))
                } else {
                    seenDocuments[m.idNumber] = i
                }
            }
            p += PhoneNumber.validate(m.phone, field: "\(f).phone", allowLandline: false)
            if m.role.isEmpty {
                p.append(.required("\(f).role"))
            } else if m.parsedRole == nil {
                p.append(Problem(code: ProblemCode.unknownRole, message: "\(f).role \(quote(m.role)) is not driver or escort",
                                 field: "\(f).role", value: m.role, rule: "driver or escort"))
            }
        }
        if !a.crew.isEmpty, a.crew.allSatisfy({ $0.parsedRole != nil }), !a.crew.contains(where: { $0.parsedRole == .driver }) {
            p.append(Problem(code: ProblemCode.noDriver, message: "crew has no driver; at least one member's role is driver",
                             field: "crew", rule: "at least one driver"))
        }

        // Cargo.
        if a.cargo.categories.isEmpty {
            p.append(Problem(code: ProblemCode.noCategory, message: "cargo.categories is empty; give at least one category",
                             field: "cargo.categories", rule: "at least one cargo category"))
        }
        var seenCategories = Set<String>()
        for (i, slug) in a.cargo.categories.enumerated() {
            let f = "cargo.categories[\(i)]"
            if CargoCategory.withSlug(slug) == nil {
                p.append(Problem(code: ProblemCode.unknownCategory, message: "\(f) \(quote(slug)) is not a cargo category",
                                 field: f, value: slug, rule: "a category slug of cargo-categories.json, e.g. medical-supplies"))
            } else if !seenCategories.insert(slug).inserted {
                p.append(Problem(code: ProblemCode.duplicateCategory, message: "\(f) \(quote(slug)) is listed twice",
                                 field: f, value: slug, rule: "each category at most once"))
            }
        }
        p += Self.text(a.cargo.description, field: "cargo.description", length: ApplicationLimits.descriptionLength)
        if let w = a.cargo.weightKg {
            if !ApplicationLimits.weightKg.contains(w) {
                p.append(Problem(code: ProblemCode.invalidWeight, message: "cargo.weightKg \(w) is out of range (1–100000 kg)",
                                 field: "cargo.weightKg", value: String(w), rule: "a positive whole number of kilograms, at most 100000"))
            }
        } else {
            p.append(.required("cargo.weightKg"))
        }

        // Route.
        p += countyProblems(a.route.origin.county, field: "route.origin.county")
        p += countyProblems(a.route.destination.county, field: "route.destination.county")
        if let address = a.route.origin.address {
            p += Self.text(address, field: "route.origin.address", length: ApplicationLimits.addressLength, optional: true)
        }
        if let address = a.route.destination.address {
            p += Self.text(address, field: "route.destination.address", length: ApplicationLimits.addressLength, optional: true)
        }
        if let via = a.route.via {
            if via.count > ApplicationLimits.maxVia {
                p.append(Problem(code: ProblemCode.tooManyVia, message: "route.via has \(via.count) points; at most 5",
                                 field: "route.via", value: String(via.count), rule: "at most 5 via points"))
            }
            for (i, code) in via.enumerated() {
                let f = "route.via[\(i)]"
                if let d = divisions.division(code) {
                    if d.level == .province {
                        p.append(Problem(code: ProblemCode.divisionLevel,
                                         message: "\(f) \(code) (\(d.name)) is a province; a via point is a county or prefecture",
                                         field: f, value: code, rule: "a county- or prefecture-level division code"))
                    }
                } else {
                    p.append(unknownDivision(code, field: f))
                }
            }
        }

        // Validity.
        let from = CalendarDay(iso: a.validity.from)
        let to = CalendarDay(iso: a.validity.to)
        for (day, text, f) in [(from, a.validity.from, "validity.from"), (to, a.validity.to, "validity.to")] where day == nil {
            p.append(text.isEmpty ? .required(f) :
                Problem(code: ProblemCode.invalidDate, message: "\(f) \(quote(text)) is not a date YYYY-MM-DD",
                        field: f, value: text, rule: "an ISO 8601 calendar date YYYY-MM-DD"))
        }
        if let from, from < today {
            p.append(Problem(code: ProblemCode.validityInPast,
                             message: "validity.from \(from) is before today (\(today), China Standard Time)",
                             field: "validity.from", value: a.validity.from, rule: "validity starts today or later"))
        }
        if let from, let to {
            if to < from {
                p.append(Problem(code: ProblemCode.validityOrder, message: "validity.to \(to) is before validity.from \(from)",
                                 field: "validity.to", value: a.validity.to, rule: "from ≤ to"))
            } else {
                let days = ValidityPeriod(from: from, to: to).days
                if days > maxValidityDays {
                    p.append(Problem(code: ProblemCode.validityTooLong,
                                     message: "validity \(from) to \(to) covers \(days) days; the maximum is \(maxValidityDays)",
                                     field: "validity.to", value: a.validity.to,
                                     rule: "at most \(maxValidityDays) days, both ends counted"))
                }
            }
        }

        // Trips.
        if a.trips.isEmpty {
            p.append(.required("trips"))
        } else if a.parsedTrips == nil {
            p.append(Problem(code: ProblemCode.unknownTrips, message: "trips \(quote(a.trips)) is not single or multiple",
                             field: "trips", value: a.trips, rule: "single or multiple"))
        }
        return p
    }

    /// The typed application, or a `ValidationFailure` carrying every problem.
    public func validated(_ application: Application) throws -> ValidApplication {
        let problems = validate(application)
        guard problems.isEmpty else { throw ValidationFailure(problems: problems) }
        let a = application.normalized()
        // Everything below was checked by validate(_:).
        return ValidApplication(
            application: a,
            plateColor: a.vehicle.parsedPlateColor!,
            plateKind: LicencePlate.kind(of: a.vehicle.plate)!,
            crew: a.crew.map {
                ValidApplication.Crew(name: $0.name, documentType: $0.parsedDocumentType!, documentNumber: $0.idNumber,
                                      phone: $0.phone, role: $0.parsedRole!)
            },
            categories: a.cargo.parsedCategories.sorted(),
            weightKg: a.cargo.weightKg!,
            validity: ValidityPeriod(from: CalendarDay(iso: a.validity.from)!, to: CalendarDay(iso: a.validity.to)!),
            trips: a.parsedTrips!)
    }

    private func unknownDivision(_ code: String, field: String) -> Problem {
        Problem(code: ProblemCode.unknownDivision, message: "\(field) \(quote(code)) is not a known division code",
                field: field, value: code, rule: "a 6-digit GB/T 2260 code of admin-divisions.csv")
    }

    private func countyProblems(_ code: String, field: String) -> [Problem] {
        guard !code.isEmpty else { return [.required(field)] }
        guard let d = divisions.division(code) else { return [unknownDivision(code, field: field)] }
        guard divisions.isCountyLevel(code) else {
            return [Problem(code: ProblemCode.divisionLevel,
                            message: "\(field) \(code) (\(d.name)) is a \(d.level.rawValue); origin and destination are county level",
                            field: field, value: code, rule: "a county-level division code")]
        }
        return []
    }

    private static func isReferenceScalar(_ s: Unicode.Scalar) -> Bool {
        guard s.isASCII else { return false }
        let b = UInt8(s.value)
        return ASCII.isDigit(b) || ASCII.isUpper(b) || (b >= 0x61 && b <= 0x7A) || "-_./".unicodeScalars.contains(s)
    }

    /// Length (in scalars), no control characters, no surrounding white space.
    /// An optional text, when given, must not be empty either.
    static func text(_ s: String, field: String, length: ClosedRange<Int>, optional: Bool = false) -> [Problem] {
        if s.isEmpty && !optional { return [.required(field)] }
        var problems: [Problem] = []
        let n = s.unicodeScalars.count
        if !length.contains(n) {
            let rule = "\(length.lowerBound)–\(length.upperBound) characters (Unicode scalars after NFC)"
            problems.append(Problem(code: ProblemCode.textLength, message: "\(field) \(quote(s)) has \(n) characters; \(rule)",
                                    field: field, value: s, rule: rule))
        }
        if s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
            problems.append(Problem(code: ProblemCode.invalidText, message: "\(field) contains a control character or line break",
                                    field: field, value: s, rule: "no control characters or line breaks"))
        } else if let first = s.unicodeScalars.first, let last = s.unicodeScalars.last,
                  first.properties.isWhitespace || last.properties.isWhitespace {
            problems.append(Problem(code: ProblemCode.invalidText, message: "\(field) \(quote(s)) starts or ends with white space",
                                    field: field, value: s, rule: "no leading or trailing white space"))
        }
        return problems
    }
}
