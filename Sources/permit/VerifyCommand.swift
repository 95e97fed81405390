import ArgumentParser
import Foundation
import PermitFoundation
import PermitModel
import PermitRender
import PermitSeal
import PermitVerify

/// `permit verify`: the checkpoint's command. One line (or one JSON object) per payload.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify permit QR payloads offline, one line per payload: may the truck pass, and why.",
        discussion: """
        Payloads come from the TEXT argument, from --file (one per line; CR and LF are stripped, \
        nothing else), from standard input with "-", and from --image photos or scans.
        Trust comes from the data directory ($PERMIT_HOME, or ./permit-data): trust-list.cose, \
        root.pub.pem, and revocations.cose if present; --trust, --root and --revocations override them.
        --at takes RFC 3339, or YYYY-MM-DD meaning 12:00 China Standard Time of that day.

        Exit codes: 0 every payload valid; 1 some payload invalid; 2 could not check (no trust \
        list, an altered or unsigned list, I/O, an image with no readable code).

        Examples:
          permit verify 'FP1:NCFOXN%TS...'
          permit verify --file scanned.txt --json
          zbarimg -q --raw photo.jpg | permit verify - --plate 浙A12345
          permit verify --image photo.jpg --trust national.cose --root national-root.pub.pem
          permit verify --file permits.txt --at 2025-12-10 --skew 60 --lang en
        """
    )

    @Argument(help: "One FP1: payload text, or - to read payloads from standard input.")
    var text: String?

    @Option(name: .long, help: "A file of payloads, one per line (- for standard input).")
    var file: String?

    @Option(name: .long, help: "A photo or scan holding a permit's QR code (repeatable).")
    var image: [String] = []

    @Option(name: .long, help: "The signed trust list (COSE_Sign1 bytes). Default: DATA/trust-list.cose.")
    var trust: String?

    @Option(name: .long, help: "The pinned root public key (PEM/DER SPKI, or a private key file). Default: DATA/root.pub.pem.")
    var root: String?

    @Option(name: .long, help: "A signed revocation list, one per authority (repeatable). Default: DATA/revocations.cose if present.")
    var revocations: [String] = []

    @Option(name: .long, help: "Check as of this time: RFC 3339, or YYYY-MM-DD (12:00 UTC+8). Default: now.")
    var at: String?

    @Option(name: .long, help: "Clock skew allowed at both ends of the validity window, in seconds.")
    var skew: Int = 300

    @Option(name: .long, help: "The plate read off the truck; a permit for another plate is refused.")
    var plate: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let at, VerifyTime.parse(at) == nil {
            throw ValidationError("--at \(at) is neither RFC 3339 (2025-12-10T08:00:00+08:00) nor a date (2025-12-10)")
        }
        guard skew >= 0 else { throw ValidationError("--skew must be 0 or more seconds") }
        if text == "-" && file == "-" { throw ValidationError("standard input can be read once: give - as TEXT or as --file, not both") }
    }

    func run() async throws {
        let json = output.json
        let setup = try CheckpointSetup.load(trust: trust, root: root, revocations: revocations, json: json)
        let clock: any VerifierClock = at.flatMap(VerifyTime.parse).map { FixedClock($0) } ?? SystemClock()
        let verifier = Verifier(trust: setup.trust, revocations: setup.revocations, clock: clock,
                                skew: TimeInterval(skew), expectedPlate: plate)

        var items: [VerificationInput] = []
        if let text {
            if text == "-" {
                items += InputFile.lines(try InputFile.read("-")).map { .payload($0) }
            } else {
                items.append(.payload(text))
            }
        }
        if let file {
            items += InputFile.lines(try InputFile.read(file)).map { .payload($0) }
        }
        for path in image {
            items += ImageInput.payloads(inImageAt: path)
        }
        if text == nil, file == nil, image.isEmpty {
            guard isatty(STDIN_FILENO) == 0 else {
                throw CommandFailure("usage.noInput", "give a payload, --file FILE, --image FILE, or - for standard input",
                                     field: "text", rule: "one source of payloads is required", json: json)
            }
            items += InputFile.lines(try InputFile.read("-")).map { .payload($0) }
        }

        let formatter = VerifyLineFormatter(language: output.language, numbered: items.count > 1)
        var exitCode: Int32 = 0
        for (index, item) in items.enumerated() {
            let result = verifier.verify(item)
            switch result.outcome {
            case .valid: break
            case .invalid: exitCode = max(exitCode, 1)
            case .error: exitCode = 2
            }
            Console.out(json ? JSONOutput.line(Verdict(index: index, result: result))
                             : formatter.line(index: index, result))
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }
}

/// Reading codes from photos and scans, through PermitRender's scanner.
enum ImageInput {
    /// The payloads in an image; an unreadable item when there are none or the image cannot be read.
    static func payloads(inImageAt path: String) -> [VerificationInput] {
        do {
            let codes = try scan(URL(fileURLWithPath: path))
            if codes.isEmpty { return [.unreadable("no QR code could be read in \(path)")] }
            return codes.map { .payload($0) }
        } catch {
            return [.unreadable("\(path): \(error)")]
        }
    }

    /// PNG or JPEG, decoded by cairo or libjpeg-turbo, scanned in greyscale by zbar.
    static func scan(_ url: URL) throws -> [String] {
        try QRScanner.scan(imageAt: url)
    }
}

/// `--at` values: RFC 3339, or a date meaning noon in China Standard Time (unambiguously inside
/// that day, clear of the midnight validity edges and the clock skew).
enum VerifyTime {
    static func parse(_ text: String) -> Date? {
        if let date = RFC3339.date(text) { return date }
        return CalendarDay(iso: text).map { Date(timeIntervalSince1970: TimeInterval($0.startInChina + 12 * 3600)) }
    }
}

/// The verified lists a checkpoint works with, read from flags or the data directory.
struct CheckpointSetup {
    var trust: TrustStore
    var revocations: [RevocationSet]

    static var dataDirectory: String {
        ProcessInfo.processInfo.environment["PERMIT_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "permit-data"
    }

    /// Fails with exit code 2 when anything cannot be read or verified: a checkpoint never
    /// falls back to an unverified list.
    static func load(trust: String?, root: String?, revocations: [String], json: Bool) throws -> CheckpointSetup {
        let (store, rootKey) = try verifiedTrust(trust: trust, root: root, json: json)
        var revocationPaths = revocations
        if revocationPaths.isEmpty {
            let defaultPath = defaultPath("revocations.cose")
            if FileManager.default.fileExists(atPath: defaultPath) { revocationPaths = [defaultPath] }
        }
        var sets: [RevocationSet] = []
        for path in revocationPaths {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("verify.revocationsUnreadable", "cannot read the revocation list \(path)",
                                     field: "revocations", value: path, rule: "the file must exist and be readable", json: json)
            }
            do {
                sets.append(try RevocationSet(verifying: Array(bytes), trust: store, root: rootKey))
            } catch {
                throw CommandFailure("verify.revocations.\(error.code.rawValue)", "the revocation list \(path) is not usable: \(error.detail)",
                                     field: "revocations", value: path,
                                     rule: "a revocation list must be signed by a key of its authority in the trust list, or by the root", json: json)
            }
        }
        return CheckpointSetup(trust: store, revocations: sets)
    }

    /// A file of the checkpoint's data directory: `trust-list.cose`, `root.pub.pem`, `revocations.cose`.
    static func defaultPath(_ name: String) -> String { (dataDirectory as NSString).appendingPathComponent(name) }

    /// The trust list (`--trust`, else DATA/trust-list.cose) verified against the pinned root
    /// (`--root`, else DATA/root.pub.pem); exit 2 when either cannot be read or it does not verify.
    static func verifiedTrust(trust: String?, root: String?, json: Bool) throws -> (TrustStore, PublicKey) {
        let trustPath = trust ?? defaultPath("trust-list.cose")
        guard let trustBytes = FileManager.default.contents(atPath: trustPath) else {
            throw CommandFailure("verify.noTrustList", "no trust list at \(trustPath): give --trust FILE, or set PERMIT_HOME to a data directory that has trust-list.cose",
                                 field: "trust", value: trustPath, rule: "a signed trust list is required to check permits", json: json)
        }
        let rootKey = try pinnedRoot(root, json: json)
        do {
            return (try TrustStore(verifying: Array(trustBytes), root: rootKey), rootKey)
        } catch {
            throw CommandFailure("verify.trustList.\(error.code.rawValue)", "the trust list \(trustPath) is not usable: \(error.detail)",
                                 field: "trust", value: trustPath, rule: "the trust list must be signed by the pinned root \(rootKey.kidHex)", json: json)
        }
    }

    /// The pinned root key: `--root`, else DATA/root.pub.pem.
    static func pinnedRoot(_ root: String?, json: Bool) throws -> PublicKey {
        let rootPath = root ?? defaultPath("root.pub.pem")
        do {
            return try PublicKey.load(path: rootPath)
        } catch {
            throw CommandFailure("verify.rootUnreadable", "cannot read the pinned root key \(rootPath): \(error.detail)",
                                 field: "root", value: rootPath, rule: "the root is a PEM/DER public key or a private key file", json: json)
        }
    }
}

/// The officer's line: verdict and reason, then what to match against the truck and crew.
struct VerifyLineFormatter {
    var language: Language
    var numbered: Bool

    private var display: DisplayLanguage { language == .zh ? .zh : .en }
    private var separator: String { " · " }

    func line(index: Int, _ result: VerificationResult) -> String {
        var parts: [String] = []
        let verdict: String
        if result.isValid {
            verdict = language.pick("✅ 准予通行", "✅ PASS")
        } else {
            let words = result.reason.map(reasonWords) ?? ""
            verdict = language.pick("❌ 不予通行：", "❌ DO NOT PASS: ") + words
        }
        parts.append((numbered ? "[\(index + 1)] " : "") + verdict)
        if let claims = result.claims {
            let p = claims.permit
            parts.append(language.pick("编号 ", "No. ") + p.number)
            let colour = PlateColor(code: Int(clamping: p.vehicle.plateColor))?.name(in: display) ?? "\(p.vehicle.plateColor)"
            parts.append(language.pick("\(p.vehicle.plate)（\(colour)）", "\(p.vehicle.plate) (\(colour))"))
            let from = CivilTime.day(claim: claims.notBefore), until = CivilTime.lastDay(expiresAt: claims.expiresAt)
            parts.append(language.pick("有效期 \(from) 至 \(until)", "valid \(from) to \(until) (UTC+8)"))
            parts.append(language.pick("司乘 ", "crew ") + p.crew.map(\.name).joined(separator: language.pick("、", ", ")))
            parts.append(language.pick("物资 ", "cargo ") + p.cargo.categories.map(categoryName).joined(separator: language.pick("、", ", ")))
        }
        if let signer = result.signer {
            parts.append(language.pick("签发 \(signer.name) 核验电话 \(signer.phone)", "issued by \(signer.nameEn) tel. \(signer.phone)"))
        }
        for warning in result.warnings {
            parts.append("⚠️ " + warningWords(warning.code))
        }
        return parts.joined(separator: separator)
    }

    func categoryName(_ code: UInt64) -> String {
        guard code <= UInt64(Int.max), let category = CargoCategory.withCode(Int(code)) else { return "\(code)" }
        return category.name(in: display)
    }

    func reasonWords(_ reason: VerificationResult.Reason) -> String {
        switch reason {
        case .unknownPrefix: return language.pick("不是通行证二维码", "not a permit code")
        case .base45Invalid: return language.pick("二维码内容损坏（Base45）", "damaged code (Base45)")
        case .decompressionFailed: return language.pick("二维码内容损坏（解压失败）", "damaged code (inflate failed)")
        case .coseMalformed: return language.pick("签名结构损坏", "malformed signed structure")
        case .unsupportedAlgorithm: return language.pick("不支持的签名算法", "unsupported signature algorithm")
        case .unknownKey: return language.pick("签发密钥不在信任列表中", "signing key not in the trust list")
        case .signatureInvalid: return language.pick("签名无效（伪造或被篡改）", "signature invalid (forged or altered)")
        case .claimsMalformed: return language.pick("通行证内容格式错误", "permit content malformed")
        case .issuerMismatch: return language.pick("签发机关与签名密钥或编号不符", "issuer does not match the signing key or the number")
        case .keyNotValidAtIssuance: return language.pick("签发时密钥不在有效期内", "key not valid when the permit was issued")
        case .notYetValid: return language.pick("尚未生效", "not yet valid")
        case .expired: return language.pick("已过期", "expired")
        case .revoked: return language.pick("已被撤销", "revoked")
        case .plateMismatch: return language.pick("车牌不符", "plate does not match")
        case .unreadable: return language.pick("无法识别二维码", "no readable code")
        }
    }

    func warningWords(_ code: VerificationWarning.Code) -> String {
        switch code {
        case .trustListStale: return language.pick("信任列表已过更新期，请尽快更新", "trust list is stale; update it")
        case .revocationListStale: return language.pick("吊销列表已过更新期，请尽快更新", "revocation list is stale; update it")
        }
    }
}
