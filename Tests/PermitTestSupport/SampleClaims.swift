import PermitSeal

/// A typical permit's claims: two crew, a short cargo description, a firm name of 10 characters;
/// valid on the days 2025-12-06 to 2025-12-19 in UTC+8, issued 2025-12-05.
/// Shared by the test targets and `permit-bench verify`.
public func sampleClaims(number: String = "330114000001", plate: String = "浙A12345") -> PermitClaims {
    PermitClaims(
        issuer: String(number.prefix(6)), expiresAt: 1_766_160_000, notBefore: 1_764_950_400, issuedAt: 1_764_900_000,
        permit: PermitPayload(
            number: number,
            vehicle: .init(plate: plate, plateColor: 2),
            crew: [.init(name: "刘建国", maskedDocument: "330106********1234", maskedPhone: "138****5678", role: 1),
                   .init(name: "王小明", maskedDocument: "330102********2345", maskedPhone: "139****6789", role: 2)],
            cargo: .init(categories: [2], description: "医用口罩、防护服", weightKg: 12000),
            origin: .init(county: 330114, address: nil), destination: .init(county: 320508, address: nil),
            via: [320500], approvedBy: [7], applicant: .init(name: "杭州钱塘物流有限公司", creditCode: "91330114MA2H3X4Y5K"),
            trips: 2, conditions: nil))
}
