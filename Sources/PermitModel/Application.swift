import Foundation

/// A firm's application for a permit, exactly as the firms' JSON interface spells it.
///
/// Enum-like fields (`plateColor`, `role`, `documentType`, `trips`, category slugs) stay the
/// strings the firm sent, so that a wrong value reaches `ApplicationValidator`, which reports it
/// with field, value and rule; the `parsed…` accessors give the typed value when there is one.
/// Application input (files, and stored documents through `decodeStored`) is read by
/// `ApplicationFile`'s one JSON reader, which turns wrong types and unknown members into
/// `Problem`s. The synthesised `Codable` conformance writes canonical JSON and reads an
/// application embedded in a permit document (`IssuedPermit`).
public struct Application: Codable, Sendable, Hashable {
    /// The firm's own reference, unique per firm, e.g. `"WL-2026-000123"`.
    public var reference: String
    /// The applying firm.
    public var applicant: Applicant
    /// The vehicle (for a tractor-trailer, the tractor).
    public var vehicle: Vehicle
    /// Driver and escorts, 1 to 3.
    public var crew: [CrewMember]
    /// What is carried.
    public var cargo: Cargo
    /// Where from, where to, and optionally through.
    public var route: Route
    /// The requested validity, in China Standard Time days.
    public var validity: Validity
    /// `"single"` or `"multiple"`.
    public var trips: String

    /// Creates an application from its parts.
    public init(reference: String, applicant: Applicant, vehicle: Vehicle, crew: [CrewMember],
                cargo: Cargo, route: Route, validity: Validity, trips: String) {
        self.reference = reference
        self.applicant = applicant
        self.vehicle = vehicle
        self.crew = crew
        self.cargo = cargo
        self.route = route
        self.validity = validity
        self.trips = trips
    }

    /// The applying firm (shipper or consignee).
    public struct Applicant: Codable, Sendable, Hashable {
        /// The firm's registered name.
        public var name: String
        /// Its 18-character unified social credit code (GB 32100).
        public var creditCode: String
        /// The contact person's name.
        public var contact: String
        /// A mobile number, or a landline written `0571-88888888` (`normalized()` adds the
        /// hyphen to one given as digits only).
        public var phone: String
        /// Creates an applicant.
        public init(name: String, creditCode: String, contact: String, phone: String) {
            self.name = name; self.creditCode = creditCode; self.contact = contact; self.phone = phone
        }
    }

    /// The vehicle.
    public struct Vehicle: Codable, Sendable, Hashable {
        /// The plate, e.g. `"浙A12345"`.
        public var plate: String
        /// The plate colour's file name, e.g. `"yellow"`.
        public var plateColor: String
        /// Optional free-text vehicle type, e.g. 重型半挂牵引车.
        public var type: String?
        /// Creates a vehicle.
        public init(plate: String, plateColor: String, type: String? = nil) {
            self.plate = plate; self.plateColor = plateColor; self.type = type
        }
        /// The typed plate colour, or nil if `plateColor` is not one of the six names.
        public var parsedPlateColor: PlateColor? { PlateColor(rawValue: plateColor) }
    }

    /// One person on board.
    public struct CrewMember: Codable, Sendable, Hashable {
        /// Name as on the identity document.
        public var name: String
        /// The document number.
        public var idNumber: String
        /// A mobile number.
        public var phone: String
        /// `"driver"` or `"escort"`.
        public var role: String
        /// The document type's file name; absent means a mainland resident ID.
        public var documentType: String?
        /// Creates a crew member.
        public init(name: String, idNumber: String, phone: String, role: String, documentType: String? = nil) {
            self.name = name; self.idNumber = idNumber; self.phone = phone; self.role = role
            self.documentType = documentType
        }
        /// The typed role, or nil for an unknown role.
        public var parsedRole: CrewRole? { CrewRole(rawValue: role) }
        /// The typed document type (absent means `.residentID`), or nil for an unknown type.
        public var parsedDocumentType: DocumentType? {
            guard let documentType else { return .residentID }
            return DocumentType(rawValue: documentType)
        }
    }

    /// The load.
    public struct Cargo: Codable, Sendable, Hashable {
        /// Category slugs, e.g. `["medical-supplies"]`.
        public var categories: [String]
        /// A short description, at most 24 characters.
        public var description: String
        /// Weight in kilograms. Optional in the type so that its absence can be reported.
        public var weightKg: Int?
        /// Creates a load.
        public init(categories: [String], description: String, weightKg: Int?) {
            self.categories = categories; self.description = description; self.weightKg = weightKg
        }
        /// The known categories among `categories`, in the given order, unknown slugs skipped.
        public var parsedCategories: [CargoCategory] { categories.compactMap(CargoCategory.withSlug) }
    }

    /// The route: one vehicle, one permit, one route.
    public struct Route: Codable, Sendable, Hashable {
        /// Where the trip starts.
        public var origin: Place
        /// Where it ends.
        public var destination: Place
        /// Optional division codes passed through, at most 5, county or prefecture level.
        public var via: [String]?
        /// Creates a route.
        public init(origin: Place, destination: Place, via: [String]? = nil) {
            self.origin = origin; self.destination = destination; self.via = via
        }
    }

    /// A route end: a county-level division code and an optional address.
    public struct Place: Codable, Sendable, Hashable {
        /// The 6-digit GB/T 2260 county-level code.
        public var county: String
        /// An optional street address inside the county.
        public var address: String?
        /// Creates a place.
        public init(county: String, address: String? = nil) { self.county = county; self.address = address }
        /// The address as the signed payload carries it: NFC, and only when it has at most 16
        /// scalars (payload spec §4); nil otherwise.
        public var payloadAddress: String? {
            guard let address = address?.nfc, !address.isEmpty,
                  address.unicodeScalars.count <= ApplicationLimits.payloadAddressLength else { return nil }
            return address
        }
    }

    /// The requested validity, both ends inclusive, as `YYYY-MM-DD`.
    public struct Validity: Codable, Sendable, Hashable {
        /// The first day.
        public var from: String
        /// The last day.
        public var to: String
        /// Creates a validity.
        public init(from: String, to: String) { self.from = from; self.to = to }
    }

    /// The typed trips value, or nil for an unknown value.
    public var parsedTrips: Trips? { Trips(rawValue: trips) }

    /// This application with every text NFC-normalised, and the applicant's phone, the one
    /// field that may be a landline, in its written form (`PhoneNumber.normalize`).
    public func normalized() -> Application {
        func n(_ s: String) -> String { s.nfc }
        func n(_ s: String?) -> String? { s?.nfc }
        var a = self
        a.reference = n(reference)
        a.applicant = Applicant(name: n(applicant.name), creditCode: n(applicant.creditCode),
                                contact: n(applicant.contact), phone: PhoneNumber.normalize(n(applicant.phone)))
        a.vehicle = Vehicle(plate: n(vehicle.plate), plateColor: n(vehicle.plateColor), type: n(vehicle.type))
        a.crew = crew.map {
            CrewMember(name: n($0.name), idNumber: n($0.idNumber), phone: n($0.phone), role: n($0.role),
                       documentType: n($0.documentType))
        }
        a.cargo = Cargo(categories: cargo.categories.map(n), description: n(cargo.description), weightKg: cargo.weightKg)
        a.route = Route(origin: Place(county: n(route.origin.county), address: n(route.origin.address)),
                        destination: Place(county: n(route.destination.county), address: n(route.destination.address)),
                        via: route.via?.map(n))
        a.validity = Validity(from: n(validity.from), to: n(validity.to))
        a.trips = n(trips)
        return a
    }

    /// The canonical JSON of this application, for hashing and storage: NFC-normalised text,
    /// sorted keys, no insignificant whitespace, `/` unescaped, absent optionals left out.
    /// Equal applications give equal bytes.
    public func canonicalJSON() -> Data {
        CanonicalJSON.encode(normalized())
    }

    /// Reads a stored document (as `canonicalJSON()` wrote it) through the same reader as an
    /// application file's JSON, with the same rules and limits. A document it cannot read throws
    /// `UnreadableApplication` with every problem, each naming field, value and rule.
    public static func decodeStored(_ data: Data) throws(UnreadableApplication) -> Application {
        let (application, problems) = ApplicationFile.decodeApplication(data)
        guard let application else { throw UnreadableApplication(problems: problems) }
        return application
    }
}

/// An application document that could not be read, with every problem found.
public struct UnreadableApplication: Error, ProblemConvertible, Sendable, CustomStringConvertible {
    /// What is wrong, each naming field, value and rule where they apply.
    public var problems: [Problem]
    /// Creates the error.
    public init(problems: [Problem]) { self.problems = problems }
    /// The problems' messages, joined.
    public var description: String { "the application cannot be read: " + problems.map(\.message).joined(separator: "; ") }
}

extension String {
    /// The string in Unicode Normalization Form C.
    ///
    /// Most permit text is ASCII, Latin-1 or common CJK, which NFC never changes and which
    /// cannot be followed by a combining mark from the same sets; such strings are returned as
    /// they are, without the cost of Foundation's normaliser. Anything else goes through it.
    public var nfc: String {
        for scalar in unicodeScalars {
            let v = scalar.value
            let stable = v < 0x300 || (0x4E00...0x9FFF).contains(v) || (0x3000...0x303F).contains(v) || (0xFF01...0xFF5E).contains(v)
            if !stable { return precomposedStringWithCanonicalMapping }
        }
        return self
    }
}
