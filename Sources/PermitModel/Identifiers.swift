import Foundation

/// Byte-level ASCII classes used by the identifier rules.
enum ASCII {
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isUpper(_ b: UInt8) -> Bool { b >= 0x41 && b <= 0x5A }
    static func isDigit(_ s: Unicode.Scalar) -> Bool { s.isASCII && isDigit(UInt8(s.value)) }
    static func isUpper(_ s: Unicode.Scalar) -> Bool { s.isASCII && isUpper(UInt8(s.value)) }
    static func allDigits<S: StringProtocol>(_ s: S) -> Bool { !s.isEmpty && s.utf8.allSatisfy(isDigit) }
}

/// ISO 7064 MOD 11-2, the check character of resident IDs (GB 11643) and the documents that
/// copy their layout.
public enum ISO7064 {
    /// The rule's name, as reported in problems.
    public static let rule = "ISO 7064 MOD 11-2 check character"
    private static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

    /// The check character (`0`–`9` or `X`) for 17 ASCII digits, or nil if `digits` is not that.
    public static func mod11_2(_ digits: String) -> Character? {
        let b = Array(digits.utf8)
        guard b.count == 17, b.allSatisfy(ASCII.isDigit) else { return nil }
        var sum = 0
        for (i, d) in b.enumerated() { sum += Int(d - 0x30) * weights[i] }
        return Array("10X98765432")[sum % 11]
    }
}

/// The unified social credit code of GB 32100-2015 (统一社会信用代码).
///
/// 18 characters from the 31-character alphabet `0-9 A-H J-N P-R T-U W-Y` (no I, O, Z, S, V):
/// 1 registration authority (accepted: 1–9, A, N, Y), 2 organisation type (1–9),
/// 3–8 the registering authority's division code (digits), 9–17 the organisation code,
/// 18 the check character: with the weights 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28,
/// check = 31 − (Σ value × weight mod 31), 31 meaning 0.
public enum CreditCode {
    /// The code alphabet, in value order.
    public static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    private static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    private static let authorities = Set("123456789ANY")
    /// The check rule's name, as reported in problems.
    public static let checkRule = "GB 32100-2015 check character (weights 1,3,9,27… mod 31)"

    /// The check character for the first 17 characters, or nil if they are not 17 alphabet characters.
    public static func checkCharacter(_ first17: String) -> Character? {
        let chars = Array(first17)
        guard chars.count == 17 else { return nil }
        var sum = 0
        for (i, c) in chars.enumerated() {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            sum += v * weights[i]
        }
        return alphabet[(31 - sum % 31) % 31]
    }

    /// Every way `code` breaks the rules, reported on `field`.
    public static func validate(_ code: String, field: String) -> [Problem] {
        func problem(_ rule: String, _ what: String) -> Problem {
            Problem(code: ProblemCode.invalidCreditCode,
                    message: "\(field) \(quote(code)) is not a valid unified social credit code: \(what)",
                    field: field, value: code, rule: rule)
        }
        let chars = Array(code)
        guard !code.isEmpty else { return [Problem.required(field)] }
        guard chars.count == 18 else {
            return [problem("18 characters (GB 32100-2015)", "it has \(chars.count) characters, not 18")]
        }
        let bad = chars.filter { !alphabet.contains($0) }
        if !bad.isEmpty {
            return [problem("characters 0-9 A-H J-N P-R T-U W-Y only (no I, O, S, V, Z, no lower case)",
                            "it contains \(String(bad).debugDescription)")]
        }
        var problems: [Problem] = []
        if !authorities.contains(chars[0]) {
            problems.append(problem("1st character is a registration authority code (1–9, A, N, Y)",
                                    "\(chars[0]) is not a registration authority code"))
        }
        if !("1"..."9").contains(chars[1]) {
            problems.append(problem("2nd character is an organisation type code (1–9)",
                                    "\(chars[1]) is not an organisation type code"))
        }
        if !ASCII.allDigits(String(chars[2..<8])) {
            problems.append(problem("characters 3–8 are a 6-digit division code",
                                    "\(String(chars[2..<8])) is not a division code"))
        }
        if problems.isEmpty, let check = checkCharacter(String(chars[0..<17])), check != chars[17] {
            problems.append(problem(checkRule, "the check character should be \(check), not \(chars[17])"))
        }
        return problems
    }
}

/// Mainland resident ID numbers (GB 11643-1999) and the documents that share their layout.
///
/// 18 characters: a 6-digit division code (any province-level prefix 11–65 that exists; the
/// rest is not checked, since codes of abolished divisions stay valid on old cards), a birth
/// date `YYYYMMDD` (a real date, from 1900-01-01 to today in China), a 3-digit sequence, and
/// the ISO 7064 MOD 11-2 check character (`X` in upper case for 10).
public enum ResidentID {
    /// Province-level prefixes of mainland resident IDs.
    public static let provincePrefixes: Set<String> = [
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    ]
    /// Prefixes of the residence permits for Hong Kong, Macao and Taiwan residents.
    public static let hmtPrefixes: Set<String> = ["810000", "820000", "830000"]

    /// Every way `number` breaks the resident-ID rules, reported on `field`; `today` bounds the birth date.
    public static func validate(_ number: String, field: String, today: CalendarDay) -> [Problem] {
        validateLayout(number, field: field, today: today, document: .residentID)
    }

    /// Every way `number` breaks the Hong Kong/Macao/Taiwan residence-permit rules.
    public static func validateHMTResidencePermit(_ number: String, field: String, today: CalendarDay) -> [Problem] {
        validateLayout(number, field: field, today: today, document: .hmtResidencePermit)
    }

    /// The birth date embedded in an 18-character number, if it is a real date.
    public static func birthDate(_ number: String) -> CalendarDay? {
        let s = Array(number.utf8)
        guard s.count == 18 else { return nil }
        return CalendarDay(compact: Substring(String(decoding: s[6..<14], as: UTF8.self)))
    }

    static func validateLayout(_ number: String, field: String, today: CalendarDay, document: DocumentType) -> [Problem] {
        let what = document.name(in: .en)
        func problem(_ rule: String, _ detail: String) -> Problem {
            Problem(code: ProblemCode.invalidDocumentNumber,
                    message: "\(field) \(quote(number)) is not a valid \(what) number: \(detail)",
                    field: field, value: number, rule: rule)
        }
        guard !number.isEmpty else { return [Problem.required(field)] }
        let b = Array(number.utf8)
        guard number.unicodeScalars.count == 18, b.count == 18 else {
            return [problem("18 characters: 17 digits and a check character", "it has \(number.unicodeScalars.count) characters")]
        }
        guard b[0..<17].allSatisfy(ASCII.isDigit) else {
            return [problem("18 characters: 17 digits and a check character", "the first 17 characters are not all digits")]
        }
        var problems: [Problem] = []
        let prefix6 = String(decoding: b[0..<6], as: UTF8.self)
        switch document {
        case .hmtResidencePermit:
            if !hmtPrefixes.contains(prefix6) {
                problems.append(problem("starts 810000 (Hong Kong), 820000 (Macao) or 830000 (Taiwan)",
                                        "it starts \(prefix6)"))
            }
        default:
            if !provincePrefixes.contains(String(prefix6.prefix(2))) {
                problems.append(problem("starts with a division code of a mainland province (11–65)",
                                        "\(prefix6.prefix(2)) is not a province code"))
            }
        }
        problems += birthProblems(number, bytes: b[6..<14], today: today, problem: problem)
        let last = b[17]
        if last == UInt8(ascii: "x") {
            problems.append(problem("the check character X is written in upper case", "it ends in a lower-case x"))
        } else if !(ASCII.isDigit(last) || last == UInt8(ascii: "X")) {
            problems.append(problem(ISO7064.rule, "the last character must be a digit or X"))
        } else if let check = ISO7064.mod11_2(String(decoding: b[0..<17], as: UTF8.self)),
                  check != Character(Unicode.Scalar(last)) {
            problems.append(problem(ISO7064.rule, "the check character should be \(check), not \(Character(Unicode.Scalar(last)))"))
        }
        return problems
    }

    static func birthProblems(_ number: String, bytes: ArraySlice<UInt8>, today: CalendarDay,
                              problem: (String, String) -> Problem) -> [Problem] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let birth = CalendarDay(compact: Substring(text)) else {
            return [problem("characters 7–14 are a real birth date YYYYMMDD", "\(text) is not a date")]
        }
        if birth < CalendarDay(year: 1900, month: 1, day: 1)! || birth > today {
            return [problem("the birth date lies between 1900-01-01 and today", "\(birth) is out of range")]
        }
        return []
    }
}

/// Format rules for the other crew documents.
public enum DocumentNumber {
    /// Every way `number` breaks the rules of `type`, reported on `field`.
    public static func validate(_ number: String, type: DocumentType, field: String, today: CalendarDay) -> [Problem] {
        guard !number.isEmpty else { return [Problem.required(field)] }
        func problem(_ rule: String) -> [Problem] {
            [Problem(code: ProblemCode.invalidDocumentNumber,
                     message: "\(field) \(quote(number)) is not a valid \(type.name(in: .en)) number (\(rule))",
                     field: field, value: number, rule: rule)]
        }
        let b = Array(number.utf8)
        switch type {
        case .residentID:
            return ResidentID.validate(number, field: field, today: today)
        case .hmtResidencePermit:
            return ResidentID.validateHMTResidencePermit(number, field: field, today: today)
        case .mainlandTravelPermit:
            let hkMacao = (b.count == 9 || b.count == 11) && (b[0] == UInt8(ascii: "H") || b[0] == UInt8(ascii: "M"))
                && b.dropFirst().allSatisfy(ASCII.isDigit)
            let taiwan = b.count == 8 && b.allSatisfy(ASCII.isDigit)
            return hkMacao || taiwan ? [] : problem("H or M and 8 (or 10) digits, or 8 digits for Taiwan residents")
        case .foreignPermanentResidence:
            if b.count == 15 {
                return b[0..<3].allSatisfy(ASCII.isUpper) && b[3...].allSatisfy(ASCII.isDigit)
                    ? [] : problem("2004 format: 3 upper-case letters and 12 digits")
            }
            guard b.count == 18, b[0] == UInt8(ascii: "9"), b[0..<17].allSatisfy(ASCII.isDigit) else {
                return problem("15 characters (2004 format) or 18 starting with 9 (2023 format)")
            }
            var problems = ResidentID.birthProblems(number, bytes: b[6..<14], today: today) { rule, detail in
                Problem(code: ProblemCode.invalidDocumentNumber,
                        message: "\(field) \(quote(number)) is not a valid foreign permanent resident ID number: \(detail)",
                        field: field, value: number, rule: rule)
            }
            let last = Character(Unicode.Scalar(b[17]))
            if let check = ISO7064.mod11_2(String(decoding: b[0..<17], as: UTF8.self)), check != last {
                problems.append(Problem(code: ProblemCode.invalidDocumentNumber,
                                        message: "\(field) \(quote(number)) is not a valid foreign permanent resident ID number: the check character should be \(check), not \(last)",
                                        field: field, value: number, rule: ISO7064.rule))
            }
            return problems
        case .passport:
            return (5...17).contains(b.count) && b.allSatisfy({ ASCII.isDigit($0) || ASCII.isUpper($0) })
                ? [] : problem("5–17 upper-case letters and digits")
        }
    }
}

/// Chinese phone numbers.
///
/// A mobile number is 11 digits starting 1[3-9]. A landline, accepted only for the applicant
/// firm and the issuing authority, is its area code and a 7- or 8-digit subscriber number.
/// Its written form has a hyphen: `0` + 2–3 digits, `-`, 7–8 digits (`010-12345678`,
/// `0571-88888888`). No spaces, no `+86`, no extension.
///
/// A landline may also be given without the hyphen (`057188888888`): China's area codes are
/// prefix-free, so the digits split in one way only. `010` and `020`–`029` are three digits,
/// every other area code (`03xx`–`09xx`) is four. `normalize` writes such a number with its
/// hyphen, and validation and storage use that form.
public enum PhoneNumber {
    /// Whether `s` is a mobile number.
    public static func isMobile(_ s: String) -> Bool {
        let b = Array(s.utf8)
        return b.count == 11 && b.allSatisfy(ASCII.isDigit) && b[0] == UInt8(ascii: "1") && b[1] >= UInt8(ascii: "3")
    }

    /// Whether `s` is a landline written `0AA-NNNNNNNN`.
    public static func isLandline(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, ASCII.allDigits(parts[0]), ASCII.allDigits(parts[1]) else { return false }
        return parts[0].first == "0" && (3...4).contains(parts[0].count) && subscriberLengths.contains(parts[1].count)
    }

    /// The lengths of a subscriber number after the area code.
    static let subscriberLengths = 7...8

    /// The length of the area code that `digits` opens with: 3 for `010` and `02x`, 4 for
    /// `03xx`–`09xx`; nil when no area code opens it (`00` is the international prefix, and
    /// `010` is the only area code in `01`).
    static func areaCodeLength(_ digits: [UInt8]) -> Int? {
        guard digits.count >= 3, digits[0] == UInt8(ascii: "0") else { return nil }
        switch digits[1] {
        case UInt8(ascii: "1"): return digits[2] == UInt8(ascii: "0") ? 3 : nil
        case UInt8(ascii: "2"): return 3
        case UInt8(ascii: "3")...UInt8(ascii: "9"): return 4
        default: return nil
        }
    }

    /// The number in its written form: a landline given as digits only (`057186901234`,
    /// `01012345678`) gets the hyphen after its area code (`0571-86901234`, `010-12345678`).
    /// Anything else, mobile numbers included, is returned as it is, so that a wrong value is
    /// reported as given.
    public static func normalize(_ s: String) -> String {
        let b = Array(s.utf8)
        guard b.allSatisfy(ASCII.isDigit), let area = areaCodeLength(b), subscriberLengths.contains(b.count - area) else { return s }
        return String(decoding: b[..<area], as: UTF8.self) + "-" + String(decoding: b[area...], as: UTF8.self)
    }

    /// The problems of `s` on `field`; a landline is accepted only when `allowLandline`. The
    /// number is checked in its normalised form (`normalize`).
    public static func validate(_ s: String, field: String, allowLandline: Bool) -> [Problem] {
        guard !s.isEmpty else { return [Problem.required(field)] }
        let n = normalize(s)
        if isMobile(n) || (allowLandline && isLandline(n)) { return [] }
        let rule = allowLandline
            ? "a mobile number (11 digits starting 13–19) or a landline with its area code: 0571-88888888 or 057188888888"
            : "a mobile number: 11 digits starting 13–19"
        return [Problem(code: ProblemCode.invalidPhone, message: "\(field) \(quote(s)) is not \(rule)",
                        field: field, value: s, rule: rule)]
    }
}

/// Chinese licence plates (GA 36-2018), as a permit gives them.
///
/// - 1st character: a province abbreviation (京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼).
/// - 2nd: the issuing authority's letter, A–Z upper case.
/// - Ordinary plates (7 characters): a 5-character serial of digits and upper-case letters
///   except I and O (which GA 36 does not use, to avoid confusion with 1 and 0).
/// - Small new-energy plates (8 characters, green): a 6-character serial whose 1st position is
///   a letter A–K except I (D/A/B/C/E pure electric, F/G/H/J/K others; GA 36-2018 first used D
///   and F and later opened the range), 2nd position a digit or letter (no I/O), then 4 digits.
/// - Large new-energy plates (8 characters, yellow-green): 5 digits, then D or F.
/// - Colour: an ordinary plate is blue, yellow, black or white; a small new-energy plate is
///   green; a large one yellow-green.
/// - A trailer's plate (挂) is refused: a tractor-trailer gives only the tractor's plate.
///   Other special suffixes (学, 警, 港, 澳, 使, 领…) are not freight plates and fail the format.
public enum LicencePlate {
    /// The province abbreviations that open a plate.
    public static let provinces: Set<Character> = Set("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")

    /// The plate families the format distinguishes.
    public enum Kind: String, Sendable, Codable {
        /// 7 characters.
        case ordinary
        /// 8 characters, green.
        case smallNewEnergy
        /// 8 characters, yellow-green.
        case largeNewEnergy
    }

    private static func isSerialChar(_ c: Character) -> Bool {
        guard let a = c.asciiValue else { return false }
        return ASCII.isDigit(a) || (ASCII.isUpper(a) && c != "I" && c != "O")
    }

    /// The kind of a well-formed plate, or nil if it is not one.
    public static func kind(of plate: String) -> Kind? {
        let c = Array(plate)
        guard c.count == 7 || c.count == 8, provinces.contains(c[0]),
              let a = c[1].asciiValue, ASCII.isUpper(a) else { return nil }
        let serial = Array(c[2...])
        if serial.count == 5 { return serial.allSatisfy(isSerialChar) ? .ordinary : nil }
        if "ABCDEFGHJK".contains(serial[0]), isSerialChar(serial[1]),
           serial[2...].allSatisfy({ $0.asciiValue.map(ASCII.isDigit) ?? false }) {
            return .smallNewEnergy
        }
        if serial[0..<5].allSatisfy({ $0.asciiValue.map(ASCII.isDigit) ?? false }), serial[5] == "D" || serial[5] == "F" {
            return .largeNewEnergy
        }
        return nil
    }

    /// Every problem with `plate` and `color`, reported on `plateField` and `colorField`.
    public static func validate(plate: String, color: String, plateField: String = "vehicle.plate",
                                colorField: String = "vehicle.plateColor") -> [Problem] {
        var problems: [Problem] = []
        let parsedColor = PlateColor(rawValue: color)
        if color.isEmpty {
            problems.append(Problem.required(colorField))
        } else if parsedColor == nil {
            problems.append(Problem(code: ProblemCode.unknownPlateColor,
                                    message: "\(colorField) \(quote(color)) is not a plate colour",
                                    field: colorField, value: color,
                                    rule: "one of blue, yellow, black, white, green, yellow-green"))
        }
        guard !plate.isEmpty else { return [Problem.required(plateField)] + problems }
        if plate.contains("挂") {
            return [Problem(code: ProblemCode.trailerPlate,
                            message: "\(plateField) \(quote(plate)) is a trailer's plate; give the tractor's plate",
                            field: plateField, value: plate, rule: "a tractor-trailer gives only the tractor's plate")] + problems
        }
        let c = Array(plate)
        func bad(_ rule: String) -> [Problem] {
            [Problem(code: ProblemCode.invalidPlate, message: "\(plateField) \(quote(plate)) is not a valid plate: \(rule)",
                     field: plateField, value: plate, rule: rule)] + problems
        }
        guard provinces.contains(c[0]) else {
            return bad("the 1st character is a province abbreviation such as 浙 or 苏 (GA 36-2018)")
        }
        guard c.count >= 2, let a = c[1].asciiValue, ASCII.isUpper(a) else {
            return bad("the 2nd character is the issuing authority's letter A–Z (GA 36-2018)")
        }
        guard c.count == 7 || c.count == 8 else {
            return bad("7 characters, or 8 for a new-energy plate (GA 36-2018)")
        }
        guard let kind = kind(of: plate) else {
            return c.count == 7
                ? bad("an ordinary plate's 5-character serial uses digits and letters except I and O (GA 36-2018)")
                : bad("a new-energy serial is a letter A–K, a digit or letter, then 4 digits (small), or 5 digits then D or F (large) (GA 36-2018)")
        }
        if let typed = parsedColor {
            let expected: String?
            switch kind {
            case .ordinary: expected = typed.isNewEnergy ? "a 7-character plate is blue, yellow, black or white" : nil
            case .smallNewEnergy: expected = typed == .green ? nil : "a small new-energy plate (8 characters, letter first) is green"
            case .largeNewEnergy: expected = typed == .yellowGreen ? nil : "a large new-energy plate (8 characters, D or F last) is yellow-green"
            }
            if let rule = expected {
                problems.append(Problem(code: ProblemCode.plateColorMismatch,
                                        message: "\(colorField) \(quote(color)) does not fit plate \(plate): \(rule)",
                                        field: colorField, value: color, rule: rule))
            }
        }
        return problems
    }
}

extension Problem {
    static func required(_ field: String) -> Problem {
        Problem(code: ProblemCode.required, message: "\(field) is required and is missing or empty",
                field: field, rule: "required")
    }
}

func quote(_ s: String) -> String { "\"\(s)\"" }
