/// # PermitModel
///
/// The domain of a freight-permit application: its value types (`Application`, `Department`,
/// `CargoCategory`, the payload code enums), the national identifiers' rules (plates, resident IDs
/// and other travel documents, unified social credit codes, phones, GB/T 2260 divisions),
/// the whole-application validation (`ApplicationValidator`), masking for the signed payload
/// (`Masking`), and reading application files (`ApplicationFile`: JSON, JSON Lines, CSV).
///
/// Boundary: no I/O beyond reading the bundled code tables of `PermitSchemas` or bytes a caller
/// hands in, and no clock: "now" is always a parameter. Every problem is a `Problem` with a
/// stable `code`, the `field` path (`crew[0].idNumber`), the offending `value` and the `rule`.
///
/// Text is NFC-normalised and its length is counted in Unicode scalars, as the payload
/// specification requires.
public enum PermitModel {
    /// The stable problem codes this module reports, for documentation and tests.
    public static let problemCodes: [String] = ProblemCode.all
}

/// The stable `Problem.code` values of PermitModel.
enum ProblemCode {
    static let required = "required"
    static let wrongType = "wrongType"
    static let unknownField = "unknownField"
    static let malformedJSON = "malformedJSON"
    static let malformedCSV = "malformedCSV"
    static let invalidEncoding = "invalidEncoding"
    static let fileEmpty = "file.empty"
    static let textLength = "textLength"
    static let invalidText = "invalidText"
    static let invalidReference = "invalidReference"
    static let invalidPlate = "invalidPlate"
    static let trailerPlate = "trailerPlate"
    static let unknownPlateColor = "unknownPlateColor"
    static let plateColorMismatch = "plateColorMismatch"
    static let invalidDocumentNumber = "invalidDocumentNumber"
    static let unknownDocumentType = "unknownDocumentType"
    static let invalidCreditCode = "invalidCreditCode"
    static let invalidPhone = "invalidPhone"
    static let unknownDivision = "unknownDivision"
    static let divisionLevel = "divisionLevel"
    static let tooManyVia = "tooManyVia"
    static let crewCount = "crewCount"
    static let noDriver = "noDriver"
    static let unknownRole = "unknownRole"
    static let duplicateDocument = "duplicateDocument"
    static let unknownCategory = "unknownCategory"
    static let duplicateCategory = "duplicateCategory"
    static let noCategory = "noCategory"
    static let invalidWeight = "invalidWeight"
    static let invalidDate = "invalidDate"
    static let validityOrder = "validityOrder"
    static let validityInPast = "validityInPast"
    static let validityTooLong = "validityTooLong"
    static let unknownTrips = "unknownTrips"

    static let all = [required, wrongType, unknownField, malformedJSON, malformedCSV, invalidEncoding, fileEmpty,
                      textLength, invalidText, invalidReference, invalidPlate, trailerPlate, unknownPlateColor,
                      plateColorMismatch, invalidDocumentNumber, unknownDocumentType, invalidCreditCode,
                      invalidPhone, unknownDivision, divisionLevel, tooManyVia, crewCount, noDriver,
                      unknownRole, duplicateDocument, unknownCategory, duplicateCategory, noCategory,
                      invalidWeight, invalidDate, validityOrder, validityInPast, validityTooLong, unknownTrips]
}

/// The language of names and explanations shown to people.
public enum DisplayLanguage: String, Codable, Sendable, CaseIterable {
    /// Simplified Chinese.
    case zh
    /// English.
    case en
}
