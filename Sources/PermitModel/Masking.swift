/// Masking of personal numbers for the signed payload (payload spec §4), whose QR code anyone
/// can scan.
public enum Masking {
    /// A resident ID keeps its first 6 and last 4 characters (`330106********1234`); every other
    /// document, and a resident ID that is not 18 characters, keeps only its last 4, the rest `*`.
    /// A number of 4 characters or fewer is masked entirely.
    public static func document(_ number: String, type: DocumentType) -> String {
        let c = Array(number)
        if type == .residentID, c.count == 18 {
            return String(c[0..<6]) + String(repeating: "*", count: 8) + String(c[14...])
        }
        return keepLast4(c)
    }

    /// A mobile number keeps its first 3 and last 4 digits (`138****5678`). A landline
    /// `0571-88888888` keeps its area code and last 4 digits (`0571-****8888`). Anything else
    /// keeps its last 4 characters.
    public static func phone(_ number: String) -> String {
        let c = Array(number)
        if PhoneNumber.isMobile(number) {
            return String(c[0..<3]) + "****" + String(c[7...])
        }
        if PhoneNumber.isLandline(number), let dash = c.firstIndex(of: "-") {
            let local = Array(c[(dash + 1)...])
            return String(c[...dash]) + String(repeating: "*", count: local.count - 4) + String(local.suffix(4))
        }
        return keepLast4(c)
    }

    private static func keepLast4(_ c: [Character]) -> String {
        guard c.count > 4 else { return String(repeating: "*", count: c.count) }
        return String(repeating: "*", count: c.count - 4) + String(c.suffix(4))
    }
}
