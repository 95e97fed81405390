import Foundation
import PermitModel
import PermitSeal

/// `scripts/bench seal`: sealing and decode-plus-verify on one core, each as a ratio to raw
/// signing and raw verification with the same key in the same run.
func runSealBench() throws {
    let fixture = URL(fileURLWithPath: "Tests/Fixtures/typical-permit.json")
    let document = try IssuedPermit.decode(json: Data(contentsOf: fixture))
    let claims = try document.claims()
    if let n = ProcessInfo.processInfo.environment["PERMIT_BENCH_PROFILE_SEAL"].flatMap(Int.init) {
        // For a profiler: only the sealing loop.
        let sealer = PermitSealer(key: .generate(.edDSA))
        if ProcessInfo.processInfo.environment["PERMIT_BENCH_PROFILE_CLAIMS"] != nil {
            let bytes = claims.encoded()
            for _ in 0..<n { _ = try PermitClaims(decoding: bytes, decoder: PermitText.decoder) }
            return
        }
        if ProcessInfo.processInfo.environment["PERMIT_BENCH_PROFILE_SIGN"] != nil {
            let message = try sealer.seal(claims).cose.toBeSigned()
            for _ in 0..<n { _ = try sealer.signer.sign(message) }
            return
        }
        for _ in 0..<n { _ = try sealer.seal(claims) }
        return
    }
    print("seal bench: typical permit fixture, one core; targets seal ≥ 0.50 × raw sign, decode+verify ≥ 0.85 × raw verify")
    // Sizes of both fixtures' COSE_Sign1 after zlib, with and without the signature in a stored block.
    for name in ["typical-permit", "largest-permit"] {
        let url = URL(fileURLWithPath: "Tests/Fixtures/\(name).json")
        let cose = try PermitSealer(key: .generate(.edDSA)).seal(try IssuedPermit.decode(json: Data(contentsOf: url)).claims()).cose
        let zlib = Zlib()
        print("       \(name): COSE_Sign1 \(cose.encoded().count) bytes, zlib \(zlib.compress(cose.encoded(), storedSuffix: 64).count) with the signature stored, \(zlib.compress(cose.encoded()).count) all Huffman-coded")
    }
    for alg in KeyAlgorithm.allCases {
        let key = PrivateKey.generate(alg)
        let sealer = PermitSealer(key: key)
        let sample = try sealer.seal(claims)
        let message = sample.cose.toBeSigned()
        let signature = sample.cose.signature
        let zlib = Zlib()

        let numbers = (0..<1000).map { "330114" + String(100_000 + $0) }
        var numbered = claims
        let (rawSign, seal, sealRatio) = Rate.pair({ _ in _ = key.sign(message) }, { i in
            numbered.permit.number = numbers[i % numbers.count]
            _ = try! sealer.seal(numbered)
        })
        let encode = Rate.measure { _ in _ = claims.encoded() }
        // Distinct permits, as issuance sees them: the same input over and over lets the branch
        // predictor learn zlib's tree building and halves its apparent cost.
        let varying = numbers.map { number -> [UInt8] in
            var c = claims
            c.permit.number = number
            return try! sealer.seal(c).cose.encoded()
        }
        let whole = Rate.measure { i in _ = zlib.compress(varying[i % varying.count]) }
        let split = Rate.measure { i in _ = zlib.compress(varying[i % varying.count], storedSuffix: 64) }
        let packed = zlib.compress(varying[0], storedSuffix: 64)
        let base45 = Rate.measure { _ in _ = Base45.encode(packed) }
        print(String(format: "       parts: claims CBOR %.1f µs, Base45 %.1f µs, deflate of distinct permits %.1f µs (%d bytes) with the signature stored, %.1f µs (%d bytes) all Huffman-coded",
                     1e6 / encode, 1e6 / base45, 1e6 / split, packed.count, 1e6 / whole, zlib.compress(varying[0]).count))
        let (rawVerify, decodeVerify, verifyRatio) = Rate.pair({ _ in precondition(key.publicKey.isValidSignature(signature, for: message)) }, { _ in
            let decoded = try! PermitText.decode(sample.text, zlib: zlib)
            try! decoded.cose.verify(with: key.publicKey)
            _ = try! PermitClaims(decoding: decoded.cose.payload, decoder: PermitText.decoder)
        })
        let decodeOnly = Rate.measure { _ in _ = try! PermitText.decode(sample.text, zlib: zlib) }
        let sigStructure = Rate.measure { _ in _ = sample.cose.toBeSigned() }
        let claimsOnly = Rate.measure { _ in _ = try! PermitClaims(decoding: sample.cose.payload, decoder: PermitText.decoder) }
        print(String(format: "       parts: text → COSE (Base45, inflate, COSE_Sign1) %.1f µs, Sig_structure %.1f µs, claims %.1f µs",
                     1e6 / decodeOnly, 1e6 / sigStructure, 1e6 / claimsOnly))
        print(String(format: "%@  raw sign %8.0f/s  seal %8.0f/s  ratio %@", alg.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), rawSign, seal, sealRatio.description))
        print(String(format: "%@  raw verify %6.0f/s  decode+verify %6.0f/s  ratio %@", alg.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), rawVerify, decodeVerify, verifyRatio.description))
    }
}

/// Operations per second of `body`, by the median of several timed rounds.
enum Rate {
    /// A subject's rate over a reference's, round by round.
    struct Ratio: CustomStringConvertible {
        var median: Double
        var lowerQuartile: Double
        var upperQuartile: Double
        var description: String { String(format: "%.2f (rounds' middle half %.2f–%.2f)", median, lowerQuartile, upperQuartile) }
    }

    /// The rates of a reference and a subject, measured in alternating rounds so that a change in
    /// the machine's load touches both alike (the order flips every round). Each rate is the
    /// median of its rounds; the ratio is the median of the rounds' own ratios, which a burst of
    /// load lasting a few rounds moves less than a ratio of the two medians.
    static func pair(rounds: Int = 21, seconds: Double = 0.08, _ reference: (Int) -> Void, _ subject: (Int) -> Void)
        -> (reference: Double, subject: Double, ratio: Ratio) {
        var i = 0
        let referenceCount = calibrate(seconds: seconds, reference, &i)
        let subjectCount = calibrate(seconds: seconds, subject, &i)
        var a: [Double] = [], b: [Double] = [], ratios: [Double] = []
        for round in 0..<rounds {
            let x: Double, y: Double
            if round % 2 == 0 {
                x = timed(referenceCount, reference, &i)
                y = timed(subjectCount, subject, &i)
            } else {
                y = timed(subjectCount, subject, &i)
                x = timed(referenceCount, reference, &i)
            }
            a.append(x)
            b.append(y)
            ratios.append(y / x)
        }
        ratios.sort()
        return (a.sorted()[rounds / 2], b.sorted()[rounds / 2],
                Ratio(median: ratios[rounds / 2], lowerQuartile: ratios[rounds / 4], upperQuartile: ratios[rounds * 3 / 4]))
    }

    /// How many calls of `body` take about `seconds`, after 50 ms of warming up.
    private static func calibrate(seconds: Double, _ body: (Int) -> Void, _ i: inout Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var n = 0
        while Double(DispatchTime.now().uptimeNanoseconds - start) < 0.05e9 { body(i); i += 1; n += 1 }
        return max(1, Int(Double(n) * seconds / 0.05))
    }

    /// Calls per second over `count` calls.
    private static func timed(_ count: Int, _ body: (Int) -> Void, _ i: inout Int) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count { body(i); i += 1 }
        return Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    /// The median rate of `rounds` rounds of about `seconds` each.
    static func measure(seconds: Double = 0.4, rounds: Int = 5, _ body: (Int) -> Void) -> Double {
        var i = 0
        let perRound = calibrate(seconds: seconds, body, &i)
        return (0..<rounds).map { _ in timed(perRound, body, &i) }.sorted()[rounds / 2]
    }
}
