// libFuzzer entry point: every input is tried as an FP1 text, as the bytes under Base45, as the
// bytes under zlib, as claims CBOR, and as a signed trust or revocation list. The property is
// that nothing crashes, hangs or trips AddressSanitizer, and that nothing unverified is valid.
import Foundation
import PermitModel
import PermitSeal
import PermitVerify

/// A fixed world: one trusted EdDSA issuer (from a fixed seed, so that inputs reproduce) and
/// one ES256 key, a stale trust list, a revocation set, and an expected plate.
private let issuer = try! PrivateKey(ed25519Seed: [UInt8](repeating: 7, count: 32))
private let p256 = try! PrivateKey(p256Scalar: [UInt8](repeating: 9, count: 32))
private let store: TrustStore = {
    let from = Date(timeIntervalSince1970: 1_735_660_800), until = Date(timeIntervalSince1970: 1_798_675_200)
    return TrustStore(keys: [issuer, p256].map {
        TrustStore.Key(key: $0.publicKey, authority: "330114", name: "钱塘", nameEn: "Qiantang", phone: "0571", notBefore: from, notAfter: until)
    }, nextUpdate: Date(timeIntervalSince1970: 1_764_000_000))
}()
private let verifier = Verifier(trust: store, revocations: [RevocationSet(authority: "330114", hashes: [], nextUpdate: nil)],
                                clock: FixedClock(unixSeconds: 1_765_209_600), expectedPlate: "浙A12345")
private let zlib = Zlib()

private func check(_ text: String) {
    let result = verifier.verify(text)
    if result.isValid {
        // Only a payload that our issuer really signed can be valid.
        guard let decoded = try? PermitText.decode(text), (try? decoded.cose.verify(with: issuer.publicKey)) != nil
                || (try? decoded.cose.verify(with: p256.publicKey)) != nil else {
            fatalError("an unverified payload was valid: \(text)")
        }
    } else if result.reason == nil || result.stage == nil {
        fatalError("a refusal without a reason or stage: \(result)")
    }
    if !result.isValid, result.claims != nil, [VerificationResult.Reason.unknownKey, .signatureInvalid, .claimsMalformed].contains(result.reason!) {
        fatalError("claims shown for an unverified payload: \(result)")
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    // Seeds: with PERMIT_FUZZ_SEEDS=DIR, write valid payloads there (text, COSE and claims forms).
    if let dir = ProcessInfo.processInfo.environment["PERMIT_FUZZ_SEEDS"] {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, key) in [issuer, p256].enumerated() {
            let claims = PermitClaims(issuer: "330114", expiresAt: 1_766_160_000, notBefore: 1_764_950_400, issuedAt: 1_764_900_000,
                permit: PermitPayload(number: "33011400000\(i)", vehicle: .init(plate: "浙A12345", plateColor: 2),
                    crew: [.init(name: "刘建国", maskedDocument: "330106********1234", maskedPhone: "138****5678", role: 1)],
                    cargo: .init(categories: [2, 19], description: "医用口罩", weightKg: 12000),
                    origin: .init(county: 330114, address: "钱塘大道1号"), destination: .init(county: 320508, address: nil),
                    via: [320500], approvedBy: [7], applicant: .init(name: "钱塘物流", creditCode: "91330114MA2H3X4Y5K"),
                    trips: 2, conditions: ["夜间通行"]))
            guard let sealed = try? PermitSealer(key: key).seal(claims) else { continue }
            try? Data(sealed.text.utf8).write(to: URL(fileURLWithPath: "\(dir)/text-\(i)"))
            try? Data(sealed.cose.encoded()).write(to: URL(fileURLWithPath: "\(dir)/cose-\(i)"))
            try? Data(claims.encoded()).write(to: URL(fileURLWithPath: "\(dir)/claims-\(i)"))
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data!, count: size))
    // 1. The input as text, as a scanner would hand it over.
    check(String(decoding: bytes, as: UTF8.self))
    // 2. The input as the bytes under Base45: zlib, or a bare COSE_Sign1 (0xD2/0x84 first).
    check(PermitText.prefix + Base45.encode(bytes))
    // 3. The input as the COSE_Sign1 under zlib: reaches the COSE, key, signature and claims stages.
    check(PermitText.prefix + Base45.encode(zlib.compress(bytes)))
    // 4. Stage 8 alone, and the list readers.
    _ = try? PermitClaims(decoding: bytes, decoder: PermitText.decoder)
    _ = try? TrustList.readUnverified(bytes)
    _ = try? TrustStore(verifying: bytes, root: issuer.publicKey)
    _ = try? RevocationSet(verifying: bytes, trust: store, root: issuer.publicKey)
    return 0
}
