import Foundation
import PermitModel
import PermitTestSupport
import XCTest
import PermitSeal
@testable import PermitVerify


/// Instants around the sample permit.
enum T {
    static let nbf: TimeInterval = 1_764_950_400
    static let exp: TimeInterval = 1_766_160_000
    static let iat: TimeInterval = 1_764_900_000
    /// Inside the validity window.
    static let during = Date(timeIntervalSince1970: nbf + 3 * 86400)
    static let keysFrom = Date(timeIntervalSince1970: 1_735_660_800)   // 2025-01-01
    static let keysUntil = Date(timeIntervalSince1970: 1_798_675_200)  // 2026-12-31
    static let listIssued = Date(timeIntervalSince1970: nbf)
    static let listNext = Date(timeIntervalSince1970: nbf + 30 * 86400)
}

/// Two authorities, each with an issuer key, and a national root.
struct World {
    let root = PrivateKey.generate(.edDSA)
    let qiantang = PrivateKey.generate(.edDSA)   // 330114
    let suzhou = PrivateKey.generate(.edDSA)     // 320508

    func entry(_ key: PrivateKey, _ authority: String, from: Date = T.keysFrom, until: Date = T.keysUntil) -> TrustList.Entry {
        let names = authority == "330114" ? ("杭州市钱塘区交通运输局", "Qiantang District Transport Bureau", "0571-86000000")
                                          : ("苏州市姑苏区交通运输局", "Gusu District Transport Bureau", "0512-65000000")
        return TrustList.Entry(key: key.publicKey, authority: authority, name: names.0, nameEn: names.1, phone: names.2,
                               notBefore: from, notAfter: until)
    }

    var qiantangList: TrustList { TrustList(sequence: 3, issuedAt: T.listIssued, nextUpdate: T.listNext, keys: [entry(qiantang, "330114")]) }
    var suzhouList: TrustList { TrustList(sequence: 7, issuedAt: T.listIssued, nextUpdate: T.listNext, keys: [entry(suzhou, "320508")]) }

    func store(_ list: TrustList? = nil) throws -> TrustStore {
        try TrustStore(verifying: (list ?? qiantangList).signed(by: root), root: root.publicKey)
    }

    func verifier(_ store: TrustStore? = nil, at date: Date = T.during, revocations: [RevocationSet] = [],
                  skew: TimeInterval = Verifier.defaultSkew, plate: String? = nil) throws -> Verifier {
        Verifier(trust: try store ?? self.store(), revocations: revocations, clock: FixedClock(date), skew: skew, expectedPlate: plate)
    }
}

/// A COSE_Sign1 over `payload` with arbitrary protected headers, as FP1 text.
func fp1(protected: [CBORPair], unprotected: [CBORPair] = [], payload: [UInt8], key: PrivateKey, compress: Bool = true) -> String {
    let cose = COSESign1.sign(protectedHeader: protected, unprotectedHeader: unprotected, payload: payload, with: key)
    return compress ? PermitText.encode(cose, zlib: Zlib()) : "FP1:" + Base45.encode(cose.encoded())
}

func standardHeader(_ key: PrivateKey, alg: Int64? = nil) -> [CBORPair] {
    [CBORPair(.int(1), .int(alg ?? key.algorithm.coseAlgorithm)), CBORPair(.int(4), .bytes(key.publicKey.kid))]
}


func assertRefused(_ result: VerificationResult, _ reason: VerificationResult.Reason, stage: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.outcome, reason.outcome, "\(result)", file: file, line: line)
    XCTAssertEqual(result.reason, reason, result.detail ?? "", file: file, line: line)
    if let stage { XCTAssertEqual(result.stage, stage, file: file, line: line) }
}
