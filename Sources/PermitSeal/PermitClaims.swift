import PermitModel

/// The CWT claims of a permit (payload spec §3), with the permit map (§4) under key -70001.
///
/// Codes (plate colour, role, categories, departments, trips) are kept as numbers: they never
/// change meaning, and a verifier shows one it does not know as the number.
public struct PermitClaims: Hashable, Sendable, Codable {
    /// The issuing authority's 6-digit division code (claim 1, `iss`).
    public var issuer: String
    /// End of validity, Unix seconds (claim 4, `exp`): 00:00+08:00 of the day after the last day.
    public var expiresAt: UInt64
    /// Start of validity, Unix seconds (claim 5, `nbf`): 00:00+08:00 of the first day.
    public var notBefore: UInt64
    /// Time of issuance, Unix seconds (claim 6, `iat`).
    public var issuedAt: UInt64
    /// The permit (claim -70001).
    public var permit: PermitPayload

    public init(issuer: String, expiresAt: UInt64, notBefore: UInt64, issuedAt: UInt64, permit: PermitPayload) {
        self.issuer = issuer
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.issuedAt = issuedAt
        self.permit = permit
    }

    /// The private-use claim key of the permit map.
    public static let permitClaimKey: Int64 = -70001
}

/// The permit map of payload spec §4: only what a checkpoint needs, with documents and phones masked.
public struct PermitPayload: Hashable, Sendable, Codable {
    public struct Vehicle: Hashable, Sendable, Codable {
        public var plate: String
        /// 1 blue, 2 yellow, 3 black, 4 white, 5 green, 6 yellow-green.
        public var plateColor: UInt64
        public init(plate: String, plateColor: UInt64) {
            self.plate = plate
            self.plateColor = plateColor
        }
    }

    public struct CrewMember: Hashable, Sendable, Codable {
        public var name: String
        public var maskedDocument: String
        public var maskedPhone: String
        /// 1 driver, 2 escort.
        public var role: UInt64
        public init(name: String, maskedDocument: String, maskedPhone: String, role: UInt64) {
            self.name = name
            self.maskedDocument = maskedDocument
            self.maskedPhone = maskedPhone
            self.role = role
        }
    }

    public struct Cargo: Hashable, Sendable, Codable {
        public var categories: [UInt64]
        public var description: String
        public var weightKg: UInt64?
        public init(categories: [UInt64], description: String, weightKg: UInt64?) {
            self.categories = categories
            self.description = description
            self.weightKg = weightKg
        }
    }

    public struct Place: Hashable, Sendable, Codable {
        /// A county-level division code.
        public var county: UInt64
        /// A short address (≤ 16 scalars); longer ones stay on paper only.
        public var address: String?
        public init(county: UInt64, address: String?) {
            self.county = county
            self.address = address
        }
    }

    public struct Applicant: Hashable, Sendable, Codable {
        public var name: String
        public var creditCode: String
        public init(name: String, creditCode: String) {
            self.name = name
            self.creditCode = creditCode
        }
    }

    public var number: String
    public var vehicle: Vehicle
    public var crew: [CrewMember]
    public var cargo: Cargo
    public var origin: Place
    public var destination: Place
    public var via: [UInt64]?
    public var approvedBy: [UInt64]
    public var applicant: Applicant
    /// 1 single, 2 multiple.
    public var trips: UInt64
    public var conditions: [String]?

    public init(number: String, vehicle: Vehicle, crew: [CrewMember], cargo: Cargo, origin: Place, destination: Place,
                via: [UInt64]?, approvedBy: [UInt64], applicant: Applicant, trips: UInt64, conditions: [String]?) {
        self.number = number
        self.vehicle = vehicle
        self.crew = crew
        self.cargo = cargo
        self.origin = origin
        self.destination = destination
        self.via = via
        self.approvedBy = approvedBy
        self.applicant = applicant
        self.trips = trips
        self.conditions = conditions
    }
}

/// The limits of payload spec §4, in Unicode scalars. Validation enforces them at application
/// time so that nothing is ever truncated; the verifier enforces them on what it reads.
/// The numbers shared with application validation come from `ApplicationLimits`, so that the two
/// cannot drift apart.
public enum PayloadLimits {
    public static let crewName = ApplicationLimits.crewNameLength.upperBound
    public static let cargoDescription = ApplicationLimits.descriptionLength.upperBound
    public static let address = ApplicationLimits.payloadAddressLength
    public static let firmName = ApplicationLimits.firmNameLength.upperBound
    public static let condition = 20
    public static let conditions = 2
    public static let via = ApplicationLimits.maxVia
    public static let crew = ApplicationLimits.crewCount
}

/// A claim of the wrong type, missing, or over a limit.
public struct ClaimsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The claim's path, such as `permit.crew[1].name`.
    public var field: String
    public var detail: String
    public var description: String { "\(field): \(detail)" }
}

extension PermitClaims {
    /// The claims as a CBOR map with integer keys, in the form the encoder writes deterministically.
    public var cbor: CBOR {
        .map([
            CBORPair(1, .text(issuer)),
            CBORPair(4, .unsigned(expiresAt)),
            CBORPair(5, .unsigned(notBefore)),
            CBORPair(6, .unsigned(issuedAt)),
            CBORPair(.int(PermitClaims.permitClaimKey), permit.cbor),
        ])
    }

    /// Core deterministic CBOR of the claims: the bytes that get signed.
    ///
    /// Written directly, keys in their deterministic order by construction, because sealing is
    /// on the issuance path; a test checks it against `CBOREncoder.encode(cbor)`.
    public func encoded() -> [UInt8] {
        var w = CBORWriter()
        w.out.reserveCapacity(320)
        w.map(5)
        w.key(1); w.text(issuer)
        w.key(4); w.uint(expiresAt)
        w.key(5); w.uint(notBefore)
        w.key(6); w.uint(issuedAt)
        w.out += [0x3a, 0x00, 0x01, 0x11, 0x70]  // -70001
        let p = permit
        w.map(9 + (p.via?.isEmpty == false ? 1 : 0) + (p.conditions?.isEmpty == false ? 1 : 0))
        w.key(1); w.text(p.number)
        w.key(2); w.map(2); w.key(1); w.text(p.vehicle.plate); w.key(2); w.uint(p.vehicle.plateColor)
        w.key(3); w.array(p.crew.count)
        for c in p.crew {
            w.map(4)
            w.key(1); w.text(c.name)
            w.key(2); w.text(c.maskedDocument)
            w.key(3); w.text(c.maskedPhone)
            w.key(4); w.uint(c.role)
        }
        w.key(4); w.map(p.cargo.weightKg == nil ? 2 : 3)
        w.key(1); w.array(p.cargo.categories.count)
        for c in p.cargo.categories { w.uint(c) }
        w.key(2); w.text(p.cargo.description)
        if let weight = p.cargo.weightKg { w.key(3); w.uint(weight) }
        w.key(5); w.place(p.origin)
        w.key(6); w.place(p.destination)
        if let via = p.via, !via.isEmpty {
            w.key(7); w.array(via.count)
            for v in via { w.uint(v) }
        }
        w.key(8); w.array(p.approvedBy.count)
        for d in p.approvedBy { w.uint(d) }
        w.key(9); w.map(2); w.key(1); w.text(p.applicant.name); w.key(2); w.text(p.applicant.creditCode)
        w.key(10); w.uint(p.trips)
        if let conditions = p.conditions, !conditions.isEmpty {
            w.key(11); w.array(conditions.count)
            for c in conditions { w.text(c) }
        }
        return w.out
    }

    /// Reads claims from the signed payload bytes, checking every type and limit.
    public init(decoding bytes: [UInt8], decoder: CBORDecoder = CBORDecoder()) throws(ClaimsError) {
        if let claims = ClaimsFastPath.parse(bytes) {
            self = claims
            return
        }
        let item: CBOR
        do {
            item = try decoder.decode(bytes)
        } catch {
            throw ClaimsError(field: "claims", detail: error.description)
        }
        try self.init(item)
    }

    public init(_ item: CBOR) throws(ClaimsError) {
        let m = try ClaimReader(item, field: "")
        issuer = try m.text(1, "iss")
        guard issuer.utf8.count == 6, issuer.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw ClaimsError(field: "iss", detail: "\"\(issuer)\" is not a 6-digit division code")
        }
        expiresAt = try m.uint(4, "exp")
        notBefore = try m.uint(5, "nbf")
        issuedAt = try m.uint(6, "iat")
        permit = try PermitPayload(m.required(PermitClaims.permitClaimKey, "permit"))
        guard expiresAt > notBefore else {
            throw ClaimsError(field: "exp", detail: "exp \(expiresAt) is not after nbf \(notBefore)")
        }
    }
}

extension PermitPayload {
    public var cbor: CBOR {
        var pairs: [CBORPair] = [
            CBORPair(1, .text(number)),
            CBORPair(2, .map([CBORPair(1, .text(vehicle.plate)), CBORPair(2, .unsigned(vehicle.plateColor))])),
            CBORPair(3, .array(crew.map { c in
                .map([CBORPair(1, .text(c.name)), CBORPair(2, .text(c.maskedDocument)),
                      CBORPair(3, .text(c.maskedPhone)), CBORPair(4, .unsigned(c.role))])
            })),
            CBORPair(4, .map([CBORPair(1, .array(cargo.categories.map { .unsigned($0) })),
                              CBORPair(2, .text(cargo.description))]
                             + (cargo.weightKg.map { [CBORPair(3, .unsigned($0))] } ?? []))),
            CBORPair(5, origin.cbor),
            CBORPair(6, destination.cbor),
            CBORPair(8, .array(approvedBy.map { .unsigned($0) })),
            CBORPair(9, .map([CBORPair(1, .text(applicant.name)), CBORPair(2, .text(applicant.creditCode))])),
            CBORPair(10, .unsigned(trips)),
        ]
        if let via, !via.isEmpty { pairs.append(CBORPair(7, .array(via.map { .unsigned($0) }))) }
        if let conditions, !conditions.isEmpty { pairs.append(CBORPair(11, .array(conditions.map { .text($0) }))) }
        return .map(pairs)
    }

    init(_ item: CBOR) throws(ClaimsError) {
        let m = try ClaimReader(item, field: "permit")
        number = try m.text(1, "number")
        guard number.utf8.count == 12, number.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw ClaimsError(field: "permit.number", detail: "\"\(number)\" is not 12 digits")
        }
        let v = try ClaimReader(m.required(2, "vehicle"), field: "permit.vehicle")
        vehicle = Vehicle(plate: try v.text(1, "plate", max: 8), plateColor: try v.uint(2, "plateColor"))
        let crewItems = try m.array(3, "crew")
        guard PayloadLimits.crew.contains(crewItems.count) else {
            throw ClaimsError(field: "permit.crew", detail: "\(crewItems.count) crew members; 1 to 3 are allowed")
        }
        var crew: [CrewMember] = []
        for (i, c) in crewItems.enumerated() {
            let r = try ClaimReader(c, field: "permit.crew[\(i)]")
            crew.append(CrewMember(name: try r.text(1, "name", max: PayloadLimits.crewName),
                                   maskedDocument: try r.text(2, "document", max: 32),
                                   maskedPhone: try r.text(3, "phone", max: 20),
                                   role: try r.uint(4, "role")))
        }
        self.crew = crew
        let cg = try ClaimReader(m.required(4, "cargo"), field: "permit.cargo")
        let categories = try cg.array(1, "categories")
        guard !categories.isEmpty else { throw ClaimsError(field: "permit.cargo.categories", detail: "no category") }
        cargo = Cargo(categories: try categories.enumerated().map { (i, c) throws(ClaimsError) in
                          guard let n = c.uint64 else { throw ClaimsError(field: "permit.cargo.categories[\(i)]", detail: "expected an unsigned integer, found \(c.typeName)") }
                          return n
                      },
                      description: try cg.text(2, "description", max: PayloadLimits.cargoDescription),
                      weightKg: try cg.optionalUInt(3, "weightKg"))
        origin = try Place(m.required(5, "origin"), field: "permit.origin")
        destination = try Place(m.required(6, "destination"), field: "permit.destination")
        if let viaItem = m.optional(7) {
            guard let items = viaItem.array else { throw ClaimsError(field: "permit.via", detail: "expected an array, found \(viaItem.typeName)") }
            guard items.count <= PayloadLimits.via else { throw ClaimsError(field: "permit.via", detail: "\(items.count) via points; at most \(PayloadLimits.via)") }
            via = try items.enumerated().map { (i, c) throws(ClaimsError) in
                guard let n = c.uint64 else { throw ClaimsError(field: "permit.via[\(i)]", detail: "expected an unsigned integer, found \(c.typeName)") }
                return n
            }
        } else {
            via = nil
        }
        approvedBy = try m.array(8, "approvedBy").enumerated().map { (i, c) throws(ClaimsError) in
            guard let n = c.uint64 else { throw ClaimsError(field: "permit.approvedBy[\(i)]", detail: "expected an unsigned integer, found \(c.typeName)") }
            return n
        }
        let a = try ClaimReader(m.required(9, "applicant"), field: "permit.applicant")
        applicant = Applicant(name: try a.text(1, "name", max: PayloadLimits.firmName), creditCode: try a.text(2, "creditCode", max: 18))
        trips = try m.uint(10, "trips")
        if let condItem = m.optional(11) {
            guard let items = condItem.array else { throw ClaimsError(field: "permit.conditions", detail: "expected an array, found \(condItem.typeName)") }
            guard items.count <= PayloadLimits.conditions else { throw ClaimsError(field: "permit.conditions", detail: "\(items.count) conditions; at most \(PayloadLimits.conditions)") }
            conditions = try items.enumerated().map { (i, c) throws(ClaimsError) in
                guard let s = c.text else { throw ClaimsError(field: "permit.conditions[\(i)]", detail: "expected text, found \(c.typeName)") }
                guard s.unicodeScalars.count <= PayloadLimits.condition else { throw ClaimsError(field: "permit.conditions[\(i)]", detail: "longer than \(PayloadLimits.condition) characters") }
                return s
            }
        } else {
            conditions = nil
        }
    }
}

extension PermitPayload.Place {
    var cbor: CBOR {
        .map([CBORPair(1, .unsigned(county))] + (address.map { [CBORPair(2, .text($0))] } ?? []))
    }

    init(_ item: CBOR, field: String) throws(ClaimsError) {
        let r = try ClaimReader(item, field: field)
        county = try r.uint(1, "county")
        address = try r.optionalText(2, "address", max: PayloadLimits.address)
    }
}

/// Typed access to an integer-keyed claims map, with errors that name the claim.
struct ClaimReader {
    let pairs: [CBORPair]
    let field: String

    init(_ item: CBOR, field: String) throws(ClaimsError) {
        guard case .map(let pairs) = item else {
            throw ClaimsError(field: field.isEmpty ? "claims" : field, detail: "expected a map, found \(item.typeName)")
        }
        self.pairs = pairs
        self.field = field
    }

    func path(_ name: String) -> String { field.isEmpty ? name : "\(field).\(name)" }

    func optional(_ key: Int64) -> CBOR? {
        let k = CBOR.int(key)
        for p in pairs where p.key == k { return p.value }
        return nil
    }

    func required(_ key: Int64, _ name: String) throws(ClaimsError) -> CBOR {
        guard let v = optional(key) else { throw ClaimsError(field: path(name), detail: "missing (key \(key))") }
        return v
    }

    func text(_ key: Int64, _ name: String, max: Int? = nil) throws(ClaimsError) -> String {
        let v = try required(key, name)
        return try checkText(v, name, max: max)
    }

    func optionalText(_ key: Int64, _ name: String, max: Int? = nil) throws(ClaimsError) -> String? {
        guard let v = optional(key) else { return nil }
        return try checkText(v, name, max: max)
    }

    private func checkText(_ v: CBOR, _ name: String, max: Int?) throws(ClaimsError) -> String {
        guard case .text(let s) = v else { throw ClaimsError(field: path(name), detail: "expected text, found \(v.typeName)") }
        if let max, s.unicodeScalars.count > max {
            throw ClaimsError(field: path(name), detail: "\(s.unicodeScalars.count) characters; at most \(max)")
        }
        return s
    }

    func uint(_ key: Int64, _ name: String) throws(ClaimsError) -> UInt64 {
        let v = try required(key, name)
        guard case .unsigned(let n) = v else { throw ClaimsError(field: path(name), detail: "expected an unsigned integer, found \(v.typeName)") }
        return n
    }

    func optionalUInt(_ key: Int64, _ name: String) throws(ClaimsError) -> UInt64? {
        guard let v = optional(key) else { return nil }
        guard case .unsigned(let n) = v else { throw ClaimsError(field: path(name), detail: "expected an unsigned integer, found \(v.typeName)") }
        return n
    }

    func array(_ key: Int64, _ name: String) throws(ClaimsError) -> [CBOR] {
        let v = try required(key, name)
        guard case .array(let a) = v else { throw ClaimsError(field: path(name), detail: "expected an array, found \(v.typeName)") }
        return a
    }
}

/// Appends CBOR heads and strings to a byte buffer, for encoders that write keys in order.
struct CBORWriter {
    var out: [UInt8] = []

    mutating func uint(_ n: UInt64) { CBOREncoder.head(0, n, &out) }
    mutating func key(_ n: UInt64) { CBOREncoder.head(0, n, &out) }
    mutating func map(_ count: Int) { CBOREncoder.head(5, UInt64(count), &out) }
    mutating func array(_ count: Int) { CBOREncoder.head(4, UInt64(count), &out) }

    mutating func text(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            CBOREncoder.head(3, UInt64(utf8.count), &out)
            out.append(contentsOf: utf8)
        }
    }

    mutating func place(_ p: PermitPayload.Place) {
        map(p.address == nil ? 1 : 2)
        key(1); uint(p.county)
        if let a = p.address { key(2); text(a) }
    }
}
