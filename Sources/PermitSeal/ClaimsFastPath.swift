/// A direct reader for claims in the form issuers write: definite lengths, integer keys, each
/// key known, every value of its type and within its limits. It builds no CBOR tree, which makes
/// claims parsing several times cheaper on the checkpoint's hot path.
///
/// It either returns claims that the general path (`PermitClaims(_ item:)`) would also return,
/// or nil, and then the general path decides and explains. It never reports an error itself, so
/// the two cannot disagree on what is refused; a differential test holds them to that.
struct ClaimsFastPath {
    private let b: [UInt8]
    private var i = 0

    static func parse(_ bytes: [UInt8]) -> PermitClaims? {
        var r = ClaimsFastPath(b: bytes)
        guard let claims = r.claims(), r.i == bytes.count else { return nil }
        return claims
    }

    private init(b: [UInt8]) { self.b = b }

    /// A definite head: (major type, argument).
    private mutating func head() -> (UInt8, UInt64)? {
        guard i < b.count else { return nil }
        let initial = b[i]
        i += 1
        let info = initial & 0x1f
        var n: UInt64
        switch info {
        case 0..<24: n = UInt64(info)
        case 24...27:
            let count = 1 << Int(info - 24)
            guard b.count - i >= count else { return nil }
            n = 0
            for k in 0..<count { n = n << 8 | UInt64(b[i + k]) }
            i += count
        default: return nil
        }
        return (initial >> 5, n)
    }

    private mutating func uint() -> UInt64? {
        guard let (major, n) = head(), major == 0 else { return nil }
        return n
    }

    private mutating func count(_ wanted: UInt8) -> Int? {
        guard let (major, n) = head(), major == wanted, n <= UInt64(b.count - i) else { return nil }
        return Int(n)
    }

    private mutating func text(max: Int? = nil) -> String? {
        guard let length = count(3) else { return nil }
        let slice = b[i..<i + length]
        i += length
        guard let s = String(validating: slice, as: UTF8.self) else { return nil }
        if let max, s.unicodeScalars.count > max { return nil }
        return s
    }

    /// Reads a map of distinct known unsigned keys, calling `value` for each; nil on anything else.
    private mutating func map(known: UInt64, _ value: (inout ClaimsFastPath, UInt64) -> Bool) -> UInt64? {
        guard let pairs = count(5) else { return nil }
        var seen: UInt64 = 0
        for _ in 0..<pairs {
            guard let key = uint(), key < 64, known & (1 << key) != 0, seen & (1 << key) == 0 else { return nil }
            seen |= 1 << key
            guard value(&self, key) else { return nil }
        }
        return seen
    }

    private mutating func uints() -> [UInt64]? {
        guard let n = count(4) else { return nil }
        var out: [UInt64] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            guard let v = uint() else { return nil }
            out.append(v)
        }
        return out
    }

    private mutating func place() -> PermitPayload.Place? {
        var county: UInt64?
        var address: String?
        guard let seen = map(known: 0b110, { r, k in
            if k == 1 { county = r.uint(); return county != nil }
            address = r.text(max: PayloadLimits.address)
            return address != nil
        }), seen & 0b10 != 0, let county else { return nil }
        return PermitPayload.Place(county: county, address: address)
    }

    private mutating func claims() -> PermitClaims? {
        // Top level: 1 iss, 4 exp, 5 nbf, 6 iat, -70001 permit.
        guard let pairs = count(5), pairs == 5 else { return nil }
        var iss: String?, exp: UInt64?, nbf: UInt64?, iat: UInt64?, permit: PermitPayload?
        for _ in 0..<pairs {
            guard i < b.count else { return nil }
            if b[i] == 0x3a {
                guard b.count - i >= 5, b[i + 1] == 0x00, b[i + 2] == 0x01, b[i + 3] == 0x11, b[i + 4] == 0x70, permit == nil else { return nil }
                i += 5
                guard let p = payload() else { return nil }
                permit = p
                continue
            }
            switch uint() {
            case 1: guard iss == nil, let s = text(), s.utf8.count == 6, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }; iss = s
            case 4: guard exp == nil, let v = uint() else { return nil }; exp = v
            case 5: guard nbf == nil, let v = uint() else { return nil }; nbf = v
            case 6: guard iat == nil, let v = uint() else { return nil }; iat = v
            default: return nil
            }
        }
        guard let iss, let exp, let nbf, let iat, let permit, exp > nbf else { return nil }
        return PermitClaims(issuer: iss, expiresAt: exp, notBefore: nbf, issuedAt: iat, permit: permit)
    }

    private mutating func payload() -> PermitPayload? {
        var number: String?, vehicle: PermitPayload.Vehicle?, crew: [PermitPayload.CrewMember]?, cargo: PermitPayload.Cargo?
        var origin: PermitPayload.Place?, destination: PermitPayload.Place?, via: [UInt64]?, approvedBy: [UInt64]?
        var applicant: PermitPayload.Applicant?, trips: UInt64?, conditions: [String]?
        let known: UInt64 = 0b1111_1111_1110
        guard let seen = map(known: known, { r, k in
            switch k {
            case 1:
                guard let s = r.text(), s.utf8.count == 12, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
                number = s
            case 2:
                var plate: String?, color: UInt64?
                guard r.map(known: 0b110, { r, k in
                    if k == 1 { plate = r.text(max: 8); return plate != nil }
                    color = r.uint(); return color != nil
                }) == 0b110 else { return false }
                vehicle = .init(plate: plate!, plateColor: color!)
            case 3:
                guard let n = r.count(4), PayloadLimits.crew.contains(n) else { return false }
                var members: [PermitPayload.CrewMember] = []
                for _ in 0..<n {
                    var name: String?, doc: String?, phone: String?, role: UInt64?
                    guard r.map(known: 0b11110, { r, k in
                        switch k {
                        case 1: name = r.text(max: PayloadLimits.crewName); return name != nil
                        case 2: doc = r.text(max: 32); return doc != nil
                        case 3: phone = r.text(max: 20); return phone != nil
                        default: role = r.uint(); return role != nil
                        }
                    }) == 0b11110 else { return false }
                    members.append(.init(name: name!, maskedDocument: doc!, maskedPhone: phone!, role: role!))
                }
                crew = members
            case 4:
                var categories: [UInt64]?, description: String?, weight: UInt64?
                guard let seen = r.map(known: 0b1110, { r, k in
                    switch k {
                    case 1: categories = r.uints(); return categories.map { !$0.isEmpty } ?? false
                    case 2: description = r.text(max: PayloadLimits.cargoDescription); return description != nil
                    default: weight = r.uint(); return weight != nil
                    }
                }), seen & 0b110 == 0b110 else { return false }
                cargo = .init(categories: categories!, description: description!, weightKg: weight)
            case 5: origin = r.place(); return origin != nil
            case 6: destination = r.place(); return destination != nil
            case 7:
                via = r.uints()
                return via.map { $0.count <= PayloadLimits.via } ?? false
            case 8: approvedBy = r.uints(); return approvedBy != nil
            case 9:
                var name: String?, code: String?
                guard r.map(known: 0b110, { r, k in
                    if k == 1 { name = r.text(max: PayloadLimits.firmName); return name != nil }
                    code = r.text(max: 18); return code != nil
                }) == 0b110 else { return false }
                applicant = .init(name: name!, creditCode: code!)
            case 10: trips = r.uint(); return trips != nil
            default:
                guard let n = r.count(4), n <= PayloadLimits.conditions else { return false }
                var texts: [String] = []
                for _ in 0..<n {
                    guard let t = r.text(max: PayloadLimits.condition) else { return false }
                    texts.append(t)
                }
                conditions = texts
            }
            return true
        }), seen & 0b111_0111_1110 == 0b111_0111_1110 else { return nil }
        return PermitPayload(number: number!, vehicle: vehicle!, crew: crew!, cargo: cargo!, origin: origin!, destination: destination!,
                             via: via, approvedBy: approvedBy!, applicant: applicant!, trips: trips!, conditions: conditions)
    }
}
