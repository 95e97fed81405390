import ArgumentParser
import Foundation
import PermitFoundation
import PermitModel
import PermitRender
import PermitSeal

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode an FP1: text layer by layer, trusting nothing.",
        discussion: """
        Shows the size at each layer (text, Base45, zlib, COSE_Sign1, claims), the COSE headers, \
        the claims, and the QR code version at levels M and Q. With --key it also checks the \
        signature against that one key (a checkpoint's full verdict is `permit verify`).

        Examples:
          permit inspect 'FP1:NCFOXN...'
          permit seal --key issuer.pem --claims permit.json | permit inspect -
          permit inspect - --key issuer.pub --json < payloads.txt
        """
    )

    @Argument(help: "An FP1: text, or - to read one per line from standard input.")
    var text: String

    @Option(help: "A public (or private) key file to check the signature with.")
    var key: String?

    @OptionGroup var output: OutputOptions

    func run() async throws {
        let publicKey = try key.map { try PublicKey.load(path: $0) }
        let texts = text == "-" ? InputFile.lines(FileHandle.standardInput.readDataToEndOfFile()) : [text]
        var anyInvalid = false
        for (index, t) in texts.enumerated() {
            let report = Inspection(text: t, key: publicKey)
            if report.error != nil || report.signature == "invalid" { anyInvalid = true }
            if output.json {
                var r = report
                r.index = index
                Console.out(JSONOutput.line(r))
            } else {
                if texts.count > 1 { Console.out("# \(index)") }
                Console.out(report.human)
            }
        }
        if anyInvalid { throw ExitCode(1) }
    }
}

/// What `inspect` found in one text.
struct Inspection: Encodable {
    struct Sizes: Encodable {
        var text: Int
        var base45Decoded: Int?
        var cose: Int?
        var claims: Int?
        var signature: Int?
    }

    struct QRVersions: Encodable {
        var M: Int?
        var Q: Int?
    }

    var index: Int?
    var compressed: Bool?
    var sizes: Sizes
    var qrVersion: QRVersions
    var tagged: Bool?
    var protectedHeader: String?
    var unprotectedHeader: String?
    var alg: String?
    var kid: String?
    var claims: PermitClaims?
    var claimsDiagnostic: String?
    var revocationHash: String?
    /// "valid", "invalid", or nil when no key was given.
    var signature: String?
    var error: PayloadError?

    init(text: String, key: PublicKey?) {
        sizes = Sizes(text: text.count)
        qrVersion = QRVersions(M: try? QRCode(text: text, ecc: .M).version, Q: try? QRCode(text: text, ecc: .Q).version)
        let decoded: DecodedPayload
        do {
            decoded = try PermitText.decode(text)
        } catch {
            self.error = error
            return
        }
        compressed = decoded.wasCompressed
        sizes.base45Decoded = decoded.compressed.count
        sizes.cose = decoded.coseBytes.count
        sizes.claims = decoded.cose.payload.count
        sizes.signature = decoded.cose.signature.count
        tagged = decoded.cose.isTagged
        protectedHeader = CBORDiagnostic.describe(.map(decoded.cose.protectedHeader))
        unprotectedHeader = CBORDiagnostic.describe(.map(decoded.cose.unprotectedHeader))
        kid = decoded.cose.kid.map { Hex.encode($0) }
        revocationHash = RevocationList.hash(ofSignature: decoded.cose.signature)
        do {
            alg = try decoded.cose.algorithm(protectedOnly: true).rawValue
        } catch {
            self.error = PayloadError(.unsupportedAlgorithm, error.detail)
        }
        if let item = try? PermitText.decoder.decode(decoded.cose.payload) {
            claimsDiagnostic = CBORDiagnostic.describe(item)
        }
        if let key, self.error == nil {
            do {
                try decoded.cose.verify(with: key)
                signature = "valid"
            } catch {
                signature = "invalid"
                self.error = PayloadError(.signatureInvalid, error.detail)
            }
        }
        do {
            claims = try PermitClaims(decoding: decoded.cose.payload, decoder: PermitText.decoder)
        } catch {
            if self.error == nil { self.error = PayloadError(.claimsMalformed, error.description) }
        }
    }

    var human: String {
        var lines: [String] = []
        func add(_ label: String, _ value: String) { lines.append(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value) }
        add("text", "\(sizes.text) characters")
        if let b = sizes.base45Decoded { add("base45", "\(b) bytes" + (compressed == true ? " (zlib)" : " (uncompressed COSE)")) }
        if let c = sizes.cose { add("COSE_Sign1", "\(c) bytes, " + (tagged == true ? "tag 18" : "untagged")) }
        if let p = protectedHeader { add("protected", p + (alg.map { " (alg \($0))" } ?? "")) }
        if let u = unprotectedHeader { add("unprotected", u) }
        if let k = kid { add("kid", k) }
        if let s = sizes.claims { add("claims", "\(s) bytes") }
        if let s = sizes.signature { add("signature", "\(s) bytes" + (signature.map { ", \($0)" } ?? ", not checked (no --key)")) }
        if let h = revocationHash { add("revocation", h) }
        add("QR version", "M \(qrVersion.M.map(String.init) ?? "too large"), Q \(qrVersion.Q.map(String.init) ?? "too large")")
        if let c = claims {
            let f = DateFormatter()
            f.dateFormat = "yyyy-MM-dd HH:mm xxx"
            f.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
            func t(_ s: UInt64) -> String { "\(s) (\(f.string(from: Date(timeIntervalSince1970: TimeInterval(s)))))" }
            add("iss", c.issuer)
            add("nbf", t(c.notBefore))
            add("exp", t(c.expiresAt))
            add("iat", t(c.issuedAt))
        }
        if let d = claimsDiagnostic { add("claims CBOR", d) }
        if let e = error { add("error", "\(e.reason.rawValue): \(e.detail)") }
        return lines.joined(separator: "\n")
    }
}

extension PayloadError: Encodable {
    private enum CodingKeys: String, CodingKey { case reason, detail }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(reason.rawValue, forKey: .reason)
        try c.encode(detail, forKey: .detail)
    }
}
