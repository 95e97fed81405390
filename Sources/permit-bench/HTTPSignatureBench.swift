import Foundation
import PermitHTTPSignature
import PermitSeal

/// `scripts/bench httpsig`: signing and verifying one request under the RFC 9421 profile, beside
/// raw signing and verification with the same key over a message of the same size, in paired rounds.
func runHTTPSignatureBench() throws {
    print("httpsig bench: a 1 KiB JSON application POST and a GET listing, one core")
    let body = Array(("{\"reference\":\"R-1\",\"note\":\"" + String(repeating: "x", count: 990) + "\"}").utf8)
    let now: Int64 = 1_796_202_000
    for alg in KeyAlgorithm.allCases {
        let key = PrivateKey.generate(alg)
        let lookup: (String) -> PublicKey? = { $0 == key.publicKey.kidHex ? key.publicKey : nil }
        for (kind, template) in [
            ("POST 1 KiB", RequestMessage(method: "POST", targetURI: "https://permits.example.cn/v1/authorities/330114/applications",
                                          headerFields: [("Content-Type", "application/json")], body: body)),
            ("GET", RequestMessage(method: "GET", targetURI: "https://permits.example.cn/v1/authorities/330114/applications?limit=50")),
        ] {
            var signed = template
            try RequestSignature.sign(&signed, with: key, created: now)
            let message = Array(repeating: UInt8(0x61), count: 330)
            let rawSignature = key.sign(message)
            let (rawSign, sign, signRatio) = Rate.pair({ _ in _ = key.sign(message) }, { _ in
                var request = template
                try! RequestSignature.sign(&request, with: key, created: now)
            })
            let (rawVerify, verify, verifyRatio) = Rate.pair({ _ in _ = key.publicKey.isValidSignature(rawSignature, for: message) }, { _ in
                _ = try! RequestSignature.verify(signed, now: now, key: lookup)
            })
            print(String(format: "  %@ %@: sign %.1f µs (raw %.1f µs, ratio %@), verify %.1f µs (raw %.1f µs, ratio %@)",
                         SignatureAlgorithm(alg).rawValue, kind, 1e6 / sign, 1e6 / rawSign, signRatio.description,
                         1e6 / verify, 1e6 / rawVerify, verifyRatio.description))
        }
    }
}
