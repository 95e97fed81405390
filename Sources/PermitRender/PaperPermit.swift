import Foundation

/// Everything printed on a paper permit or a phone card, as display strings.
///
/// The caller formats dates, weights and code-table names in the language it wants; this module
/// only lays them out. `payload` is the signed `FP1:` text that goes into the QR code.
public struct PaperPermit: Sendable, Equatable {
    /// One member of the crew as printed: name, role and the masked identifiers.
    public struct CrewMember: Sendable, Equatable {
        /// Full name, as on the ID card (the officer compares them).
        public var name: String
        /// Role for display, e.g. "驾驶员" or "押运员".
        public var role: String
        /// Masked document number, e.g. "330106********1234".
        public var maskedDocument: String
        /// Masked phone, e.g. "138****5678".
        public var maskedPhone: String

        /// Creates a crew member line.
        public init(name: String, role: String, maskedDocument: String, maskedPhone: String) {
            self.name = name
            self.role = role
            self.maskedDocument = maskedDocument
            self.maskedPhone = maskedPhone
        }
    }

    /// A route end point: the division's display name and an optional street address.
    public struct Place: Sendable, Equatable {
        /// Division name, e.g. "浙江省杭州市钱塘区".
        public var name: String
        /// Street address, printed in full (it may be longer than the payload allows).
        public var address: String?

        /// Creates a place.
        public init(name: String, address: String? = nil) {
            self.name = name
            self.address = address
        }
    }

    /// 12-digit permit number.
    public var number: String
    /// Plate number, e.g. "浙A12345".
    public var plate: String
    /// Plate colour's display name, e.g. "黄色".
    public var plateColor: String
    /// Vehicle type, if known, e.g. "重型半挂牵引车".
    public var vehicleType: String?
    /// Driver and escorts (1–3 on a valid permit).
    public var crew: [CrewMember]
    /// Cargo categories' display names.
    public var cargoCategories: [String]
    /// Cargo description.
    public var cargoDescription: String
    /// Weight for display, e.g. "18 吨", if declared.
    public var weight: String?
    /// Route start.
    public var origin: Place
    /// Route end.
    public var destination: Place
    /// Via points' display names, in order.
    public var via: [String]
    /// First day of validity, formatted, e.g. "2024年5月1日".
    public var validFrom: String
    /// Last day of validity (inclusive), formatted.
    public var validTo: String
    /// Trips for display, e.g. "多次".
    public var trips: String
    /// Issuing authority's name, e.g. "杭州市钱塘区交通运输局".
    public var issuingAuthority: String
    /// Phone number a checkpoint may call to verify.
    public var verificationPhone: String
    /// Approving departments' display names.
    public var departments: [String]
    /// Conditions attached by the approving departments.
    public var conditions: [String]
    /// Time of issuance, formatted.
    public var issuedAt: String
    /// The signed `FP1:` text encoded in the QR code.
    public var payload: String
    /// QR error-correction level; `.Q` unless asked otherwise.
    public var errorCorrection: QRErrorCorrection

    /// Creates a paper permit view model.
    public init(number: String, plate: String, plateColor: String, vehicleType: String? = nil,
                crew: [CrewMember], cargoCategories: [String], cargoDescription: String, weight: String? = nil,
                origin: Place, destination: Place, via: [String] = [],
                validFrom: String, validTo: String, trips: String,
                issuingAuthority: String, verificationPhone: String,
                departments: [String], conditions: [String] = [], issuedAt: String,
                payload: String, errorCorrection: QRErrorCorrection = .Q) {
        self.number = number
        self.plate = plate
        self.plateColor = plateColor
        self.vehicleType = vehicleType
        self.crew = crew
        self.cargoCategories = cargoCategories
        self.cargoDescription = cargoDescription
        self.weight = weight
        self.origin = origin
        self.destination = destination
        self.via = via
        self.validFrom = validFrom
        self.validTo = validTo
        self.trips = trips
        self.issuingAuthority = issuingAuthority
        self.verificationPhone = verificationPhone
        self.departments = departments
        self.conditions = conditions
        self.issuedAt = issuedAt
        self.payload = payload
        self.errorCorrection = errorCorrection
    }
}
