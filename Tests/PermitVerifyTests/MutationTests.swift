import Foundation
import PermitTestSupport
import XCTest
import PermitSeal
@testable import PermitVerify

/// Random damage to a valid FP1 text never crashes, never hangs, and always ends in a specific
/// refusal — or in valid only when the damaged text still decodes to exactly the original
/// COSE_Sign1 bytes (deflate's padding bits and Base45's slack can absorb a change).
final class MutationTests: XCTestCase {
    /// The text as issuers write it (zlib-compressed): most damage stops at Base45 or inflate,
    /// because zlib's Adler-32 catches what Base45 lets through.
    func testTenThousandMutationsOfACompressedPayload() throws {
        let world = World()
        let sealed = try PermitSealer(key: world.qiantang).seal(sampleClaims())
        try mutate(sealed.text, verifier: world.verifier(), seed: 0x46503121)
    }

    /// The uncompressed form verifiers also accept: damage reaches the COSE structure, the
    /// algorithm, the kid and the signature.
    func testTenThousandMutationsOfAnUncompressedPayload() throws {
        let world = World()
        let sealed = try PermitSealer(key: world.qiantang).seal(sampleClaims())
        try mutate("FP1:" + Base45.encode(sealed.cose.encoded()), verifier: world.verifier(), seed: 0x46503122)
    }

    func mutate(_ validText: String, verifier: Verifier, seed: UInt64) throws {
        let original = Array(validText.utf8)
        let originalCOSE = try PermitText.decode(validText).coseBytes
        XCTAssertTrue(verifier.verify(validText).isValid)

        var rng = SplitMix(seed: seed)
        var histogram: [String: Int] = [:]
        var kinds: [String: Int] = [:]
        let started = Date()
        var slowest: TimeInterval = 0
        for _ in 0..<10_000 {
            var bytes = original
            let kind = Int.random(in: 0..<5, using: &rng)
            let edits = Int.random(in: 1...3, using: &rng)
            for _ in 0..<edits {
                switch kind {
                case 0: // flip one bit of one character
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 1: // truncate
                    bytes.removeLast(Int.random(in: 1...max(1, bytes.count - 1), using: &rng))
                case 2: // insert a character, from the Base45 alphabet three times in four
                    let c = Int.random(in: 0..<4, using: &rng) == 0 ? UInt8.random(in: 0...255, using: &rng)
                                                                   : Base45.alphabet.randomElement(using: &rng)!
                    bytes.insert(c, at: Int.random(in: 0...bytes.count, using: &rng))
                case 3: // delete a character
                    if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng)) }
                default: // substitute another Base45 character, which Base45 may well accept
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = Base45.alphabet.randomElement(using: &rng)!
                }
                if bytes.isEmpty { break }
            }
            kinds[["flip", "truncate", "insert", "delete", "substitute"][kind], default: 0] += 1
            let text = String(decoding: bytes, as: UTF8.self)
            let t0 = Date()
            let result = verifier.verify(text)
            slowest = max(slowest, Date().timeIntervalSince(t0))
            if result.isValid {
                let cose = try PermitText.decode(text).coseBytes
                XCTAssertEqual(cose, originalCOSE, "a mutation verified with different COSE bytes: \(text)")
                histogram["valid (same COSE bytes)", default: 0] += 1
            } else {
                XCTAssertEqual(result.outcome, .invalid)
                guard let reason = result.reason else { XCTFail("no reason for \(text)"); continue }
                XCTAssertNotNil(result.stage)
                // The clock is inside the window, the list is fresh and nothing is revoked: a
                // mutation can only break decoding, the key, the signature or the claims.
                XCTAssertFalse([.expired, .notYetValid, .revoked, .plateMismatch, .unreadable].contains(reason),
                               "\(reason) for \(text)")
                if [.claimsMalformed, .issuerMismatch, .keyNotValidAtIssuance].contains(reason) {
                    XCTFail("\(reason) needs a valid signature over changed claims: \(text)")
                }
                histogram[reason.rawValue, default: 0] += 1
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("mutations of \(validText.prefix(12))…: 10000 in \(String(format: "%.2f", elapsed)) s, slowest \(String(format: "%.1f", slowest * 1000)) ms; kinds \(kinds.sorted { $0.key < $1.key })")
        for (reason, count) in histogram.sorted(by: { $0.value > $1.value }) {
            print("mutations: \(reason.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)")
        }
        // Mutations reach past Base45 into the later stages, not just the first check.
        XCTAssertGreaterThan(histogram.filter { ![VerificationReason.base45Invalid.rawValue, VerificationReason.unknownPrefix.rawValue].contains($0.key) }.values.reduce(0, +), 500,
                             "\(histogram)")
        XCTAssertLessThan(slowest, 2, "one verification took \(slowest) s")
    }
}
