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
            let message = sealer.seal(claims).cose.toBeSigned()
            for _ in 0..<n { _ = sealer.key.sign(message) }
            return
        }
        for _ in 0..<n { _ = sealer.seal(claims) }
        return
    }
    print("seal bench: typical permit fixture, one core; targets seal ≥ 0.50 × raw sign, decode+verify ≥ 0.85 × raw verify")
    for alg in KeyAlgorithm.allCases {
        let key = PrivateKey.generate(alg)
        let sealer = PermitSealer(key: key)
        let sample = sealer.seal(claims)
        let message = sample.cose.toBeSigned()
        let signature = sample.cose.signature
        let zlib = Zlib()

        let numbers = (0..<1000).map { "330114" + String(100_000 + $0) }
        var numbered = claims
        let (rawSign, seal) = Rate.pair({ _ in _ = key.sign(message) }, { i in
            numbered.permit.number = numbers[i % numbers.count]
            _ = sealer.seal(numbered)
        })
        let encode = Rate.measure { _ in _ = claims.encoded() }
        // Distinct permits, as issuance sees them: the same input over and over lets the branch
        // predictor learn zlib's tree building and halves its apparent cost.
        let varying = numbers.map { number -> [UInt8] in
            var c = claims
            c.permit.number = number
            return sealer.seal(c).cose.encoded()
        }
        let whole = Rate.measure { i in _ = zlib.compress(varying[i % varying.count]) }
        let split = Rate.measure { i in _ = zlib.compress(varying[i % varying.count], storedSuffix: 64) }
        let packed = zlib.compress(varying[0], storedSuffix: 64)
        let base45 = Rate.measure { _ in _ = Base45.encode(packed) }
        print(String(format: "       parts: claims CBOR %.1f µs, Base45 %.1f µs, deflate of distinct permits %.1f µs (%d bytes) with the signature stored, %.1f µs (%d bytes) all Huffman-coded",
                     1e6 / encode, 1e6 / base45, 1e6 / split, packed.count, 1e6 / whole, zlib.compress(varying[0]).count))
        let (rawVerify, decodeVerify) = Rate.pair({ _ in precondition(key.publicKey.isValidSignature(signature, for: message)) }, { _ in
            let decoded = try! PermitText.decode(sample.text, zlib: zlib)
            try! decoded.cose.verify(with: key.publicKey)
            _ = try! PermitClaims(decoding: decoded.cose.payload, decoder: PermitText.decoder)
        })
        print(String(format: "%@  raw sign %8.0f/s  seal %8.0f/s  ratio %.2f", alg.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), rawSign, seal, seal / rawSign))
        print(String(format: "%@  raw verify %6.0f/s  decode+verify %6.0f/s  ratio %.2f", alg.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), rawVerify, decodeVerify, decodeVerify / rawVerify))
    }
}

/// Operations per second of `body`, by the median of several timed rounds.
enum Rate {
    /// The rates of a reference and a subject, measured in alternating rounds so that a change in
    /// the machine's load touches both alike; each is the median of its rounds.
    static func pair(rounds: Int = 9, _ reference: (Int) -> Void, _ subject: (Int) -> Void) -> (Double, Double) {
        var a: [Double] = [], b: [Double] = []
        for _ in 0..<rounds {
            a.append(measure(seconds: 0.15, rounds: 1, reference))
            b.append(measure(seconds: 0.15, rounds: 1, subject))
        }
        return (a.sorted()[rounds / 2], b.sorted()[rounds / 2])
    }

    static func measure(seconds: Double = 0.4, rounds: Int = 5, _ body: (Int) -> Void) -> Double {
        var i = 0
        // Warm up and size a round.
        let start = DispatchTime.now().uptimeNanoseconds
        var n = 0
        while Double(DispatchTime.now().uptimeNanoseconds - start) < 0.05e9 { body(i); i += 1; n += 1 }
        let perRound = max(1, Int(Double(n) * seconds / 0.05))
        var rates: [Double] = []
        for _ in 0..<rounds {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<perRound { body(i); i += 1 }
            rates.append(Double(perRound) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
        }
        return rates.sorted()[rounds / 2]
    }
}
