/// A licence plate's colour. The raw value is the name application files use; `code` is the
/// payload's number (payload spec §4).
public enum PlateColor: String, Codable, Sendable, CaseIterable {
    /// Blue (small vehicles), payload 1.
    case blue
    /// Yellow (large vehicles), payload 2.
    case yellow
    /// Black (foreign-invested and some special vehicles), payload 3.
    case black
    /// White (police and other official special vehicles), payload 4.
    case white
    /// Gradient green, small new-energy vehicles (8-character plate), payload 5.
    case green
    /// Yellow-green, large new-energy vehicles (8-character plate), payload 6.
    case yellowGreen = "yellow-green"

    /// The payload code, 1–6.
    public var code: Int { PlateColor.allCases.firstIndex(of: self)! + 1 }
    /// The colour with payload code `code`, or nil.
    public init?(code: Int) {
        guard (1...PlateColor.allCases.count).contains(code) else { return nil }
        self = PlateColor.allCases[code - 1]
    }
    /// Whether this is a new-energy colour (green or yellow-green), which 8-character plates carry.
    public var isNewEnergy: Bool { self == .green || self == .yellowGreen }

    /// The colour's name in `language`.
    public func name(in language: DisplayLanguage) -> String {
        switch (self, language) {
        case (.blue, .zh): return "蓝牌"
        case (.yellow, .zh): return "黄牌"
        case (.black, .zh): return "黑牌"
        case (.white, .zh): return "白牌"
        case (.green, .zh): return "绿牌（小型新能源）"
        case (.yellowGreen, .zh): return "黄绿牌（大型新能源）"
        case (.yellowGreen, .en): return "yellow-green (large new energy)"
        case (.green, .en): return "green (small new energy)"
        default: return rawValue
        }
    }
}

/// A crew member's role. Raw value as in files; `code` as in the payload.
public enum CrewRole: String, Codable, Sendable, CaseIterable {
    /// 驾驶员, payload 1.
    case driver
    /// 押运员/随车人员, payload 2.
    case escort
    /// The payload code.
    public var code: Int { self == .driver ? 1 : 2 }
    /// The role with payload code `code`, or nil.
    public init?(code: Int) {
        switch code { case 1: self = .driver; case 2: self = .escort; default: return nil }
    }
    /// The role's name in `language`.
    public func name(in language: DisplayLanguage) -> String {
        switch (self, language) {
        case (.driver, .zh): return "驾驶员"
        case (.escort, .zh): return "押运员"
        default: return rawValue
        }
    }
}

/// Whether a permit covers one trip or many. Raw value as in files; `code` as in the payload.
public enum Trips: String, Codable, Sendable, CaseIterable {
    /// 单次, payload 1.
    case single
    /// 多次, payload 2.
    case multiple
    /// The payload code.
    public var code: Int { self == .single ? 1 : 2 }
    /// The value with payload code `code`, or nil.
    public init?(code: Int) {
        switch code { case 1: self = .single; case 2: self = .multiple; default: return nil }
    }
    /// The name in `language`.
    public func name(in language: DisplayLanguage) -> String {
        switch (self, language) {
        case (.single, .zh): return "单次"
        case (.multiple, .zh): return "多次"
        default: return rawValue
        }
    }
}

/// The identity document a crew member carries. The raw value is the `documentType` of
/// application files; a crew member without one carries a mainland resident ID.
public enum DocumentType: String, Codable, Sendable, CaseIterable {
    /// 居民身份证 (GB 11643): 18 characters, 6-digit division, birth date, sequence,
    /// ISO 7064 MOD 11-2 check character.
    case residentID = "resident-id"
    /// 港澳台居民居住证: the resident-ID layout with division 810000 (Hong Kong),
    /// 820000 (Macao) or 830000 (Taiwan), and the same check character.
    case hmtResidencePermit = "hmt-residence-permit"
    /// 港澳居民来往内地通行证 / 台湾居民来往大陆通行证: `H` or `M` and 8 digits (Hong Kong/Macao,
    /// the 2013 card; the older booklet's 10 digits are also accepted), or 8 digits (Taiwan, the
    /// 2015 card). Format only: the number has no public check character.
    case mainlandTravelPermit = "mainland-travel-permit"
    /// 外国人永久居留身份证: the 2004 format, 3 letters (nationality) and 12 digits, or the 2023
    /// format, 18 characters starting with 9, an embedded birth date, and the MOD 11-2 check.
    case foreignPermanentResidence = "foreign-permanent-residence"
    /// 护照: 5–17 upper-case letters and digits. Format only.
    case passport

    /// The name in `language`.
    public func name(in language: DisplayLanguage) -> String {
        switch (self, language) {
        case (.residentID, .zh): return "居民身份证"
        case (.hmtResidencePermit, .zh): return "港澳台居民居住证"
        case (.mainlandTravelPermit, .zh): return "港澳台居民来往内地通行证"
        case (.foreignPermanentResidence, .zh): return "外国人永久居留身份证"
        case (.passport, .zh): return "护照"
        case (.residentID, .en): return "resident ID card"
        case (.hmtResidencePermit, .en): return "residence permit for Hong Kong, Macao and Taiwan residents"
        case (.mainlandTravelPermit, .en): return "Mainland travel permit for Hong Kong, Macao and Taiwan residents"
        case (.foreignPermanentResidence, .en): return "foreign permanent resident ID card"
        case (.passport, .en): return "passport"
        }
    }
}
