import ArgumentParser
import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import PermitSeal
import PermitVerify
import PermitWorkflow

/// `permit trust`: trust lists for a whole country (payload spec §5).
struct Trust: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Export, merge, show and pull signed trust lists.",
        subcommands: [Export.self, Merge.self, Show.self, Pull.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the deployment's trust list (every authority's current and retired issuer keys), signed by its root.",
            discussion: """
            Retired keys stay in the list with their notAfter, so the permits they signed keep \
            verifying until they expire. Checkpoints of a single authority pin its root \
            (root.pub.pem); a national deployment merges every authority's list with `trust merge`.

            Examples:
              permit trust export
              permit trust export -o qiantang-trust.cose --valid-days 7 --json
            """
        )

        @OptionGroup var data: LocalDataOptions

        @Option(name: .shortAndLong, help: "Where to write the signed list (default: the data directory's trust-list.cose).")
        var output: String?

        @Option(help: "The root key that signs the list (default: the data directory's root-key.pem).")
        var rootKey: String?

        @Option(help: "Days until the list's nextUpdate; checkpoints warn after that.")
        var validDays: Int = 30

        @OptionGroup var out: OutputOptions

        func validate() throws {
            guard (1...366).contains(validDays) else { throw ValidationError("--valid-days \(validDays) must be 1 to 366") }
        }

        func run() async throws {
            // The deployment's list: every authority's issuer keys, whichever authority signs it.
            let service = LocalPermitService(workflow: try await data.localDeployment().workflows[0])

            let root = try PrivateKey.load(path: rootKey ?? data.directory.rootKey.path)
            let url = output.map { URL(fileURLWithPath: $0) } ?? data.directory.trustList
            let signed = try await service.trustList(root: root, validForDays: validDays)
            do { try Data(signed.bytes).write(to: url, options: .atomic) } catch {
                throw CommandFailure("output.unwritable", "\(url.path): \(error.localizedDescription)", field: "output", value: url.path, rule: "a writable path")
            }
            let list = signed.document
            if out.json {
                struct Result: Encodable { var file: String; var sequence: Int; var nextUpdate: String; var keys: [String] }
                Console.out(JSONOutput.line(Result(file: url.path, sequence: list.sequence, nextUpdate: list.nextUpdate, keys: list.keys.map(\.kid))))
            } else {
                Console.out(out.language.pick("信任列表已写入 \(url.path)：序号 \(list.sequence)，\(list.keys.count) 把签发密钥，下次更新 \(list.nextUpdate)",
                                              "trust list written to \(url.path): sequence \(list.sequence), \(list.keys.count) issuer key(s), next update \(list.nextUpdate)"))
            }
        }
    }

    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge authorities' trust lists into one national list signed by the national root.",
            discussion: """
            Each input list is verified before anything is merged: against its own pinned root, \
            given by --list-root once per list in the same order, or once for all lists. \
            --trust-inputs skips that check for lists the operator has verified by other means \
            (every kid is still recomputed). Keys are deduplicated by kid and public key; when \
            the same key appears in several lists, the entry of the list with the highest \
            sequence wins. The sequence is the highest input sequence + 1 unless --sequence is \
            given; nextUpdate is the earliest input nextUpdate unless --next-update is given.

            Examples:
              permit trust merge zj/trust-list.cose js/trust-list.cose \\
                  --list-root zj/root.pub.pem --list-root js/root.pub.pem \\
                  --root-key national-root.pem -o national.cose
              permit trust merge a.cose b.cose --trust-inputs --root-key national-root.pem -o national.cose --sequence 12
            """
        )

        @Argument(help: "Signed trust lists to merge.")
        var lists: [String]

        @Option(name: .customLong("root-key"), help: "The national root's private key, which signs the merged list.")
        var rootKey: String

        @Option(name: [.customShort("o"), .long], help: "Where to write the merged, signed list.")
        var out: String

        @Option(name: .customLong("list-root"), help: "The pinned root of an input list (once per list in order, or once for all).")
        var listRoots: [String] = []

        @Flag(name: .customLong("trust-inputs"), help: "Accept the input lists without verifying their signatures.")
        var trustInputs = false

        @Option(name: .long, help: "The merged list's sequence (default: highest input + 1).")
        var sequence: Int?

        @Option(name: .customLong("next-update"), help: "The merged list's nextUpdate, RFC 3339 or YYYY-MM-DD (default: earliest input).")
        var nextUpdate: String?

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard !lists.isEmpty else { throw ValidationError("give at least one trust list to merge") }
            if trustInputs {
                guard listRoots.isEmpty else { throw ValidationError("--trust-inputs and --list-root exclude each other") }
            } else {
                guard listRoots.count == lists.count || listRoots.count == 1 else {
                    throw ValidationError("give --list-root once per input list (\(lists.count)) or once for all, or --trust-inputs")
                }
            }
            if let nextUpdate, VerifyTime.parse(nextUpdate) == nil {
                throw ValidationError("--next-update \(nextUpdate) is neither RFC 3339 nor YYYY-MM-DD")
            }
            if let sequence, sequence < 0 { throw ValidationError("--sequence must not be negative") }
        }

        func run() async throws {
            let json = output.json
            let signer = try PrivateKey.load(path: rootKey)
            var inputs: [TrustList] = []
            for (i, path) in lists.enumerated() {
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    throw CommandFailure("trust.unreadable", "cannot read the trust list \(path)", field: "lists", value: path,
                                         rule: "the file must exist and be readable", json: json)
                }
                do {
                    if trustInputs {
                        let list = try TrustList.readUnverified(Array(bytes))
                        _ = try list.resolvedKeys()
                        inputs.append(list)
                    } else {
                        let rootPath = listRoots.count == 1 ? listRoots[0] : listRoots[i]
                        inputs.append(try TrustList.verify(Array(bytes), root: try PublicKey.load(path: rootPath)))
                    }
                } catch let error as ListError {
                    throw CommandFailure("trust.\(error.code.rawValue)", "\(path): \(error.detail)", field: "lists", value: path,
                                         rule: trustInputs ? "a trust list must be well-formed" : "each input list must verify against its --list-root", json: json)
                }
            }
            let merged: TrustList
            let now = try currentClock().now()
            do {
                merged = try TrustListMerge.merge(inputs, sequence: sequence, issuedAt: now,
                                                  nextUpdate: nextUpdate.flatMap(VerifyTime.parse))
            } catch {
                throw CommandFailure("trust.\(error.code.rawValue)", error.detail, json: json)
            }
            let signed = merged.signed(by: signer)
            do {
                try Data(signed).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                throw CommandFailure("trust.writeFailed", "cannot write \(out): \(error.localizedDescription)", field: "out", value: out, json: json)
            }
            let summary = MergeSummary(output: out, sequence: merged.sequence, keys: merged.keys.count,
                                       authorities: Set(merged.keys.map(\.authority)).count, inputs: lists.count,
                                       nextUpdate: merged.nextUpdate, rootKid: signer.publicKey.kidHex, inputsVerified: !trustInputs)
            if json {
                Console.out(JSONOutput.line(summary))
            } else {
                let lang = output.language
                Console.out(lang.pick(
                    "已合并 \(summary.inputs) 份信任列表：\(summary.keys) 把密钥，\(summary.authorities) 个签发机关，序号 \(summary.sequence)，下次更新 \(summary.nextUpdate)；已用根密钥 \(summary.rootKid) 签名写入 \(out)",
                    "merged \(summary.inputs) trust list(s): \(summary.keys) key(s) of \(summary.authorities) authorit\(summary.authorities == 1 ? "y" : "ies"), sequence \(summary.sequence), next update \(summary.nextUpdate); signed with root \(summary.rootKid) into \(out)"))
                if trustInputs {
                    Console.error(lang.pick("permit: 注意：输入列表的签名未经核验（--trust-inputs）", "permit: note: the input lists' signatures were not verified (--trust-inputs)"))
                }
            }
        }

        struct MergeSummary: Encodable {
            var output: String
            var sequence: Int
            var keys: Int
            var authorities: Int
            var inputs: Int
            var nextUpdate: String
            var rootKid: String
            var inputsVerified: Bool
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a signed trust list: keys, authorities, validity windows, staleness and signature.",
            discussion: """
            With --root, the list's signature is checked against that pinned root; a list that \
            does not verify is still shown, marked, and the exit code is 1. Without --root the \
            signature is not checked, and the output says so.

            Examples:
              permit trust show permit-data/trust-list.cose --root permit-data/root.pub.pem
              permit trust show national.cose --json
            """
        )

        @Argument(help: "A signed trust list (COSE_Sign1 bytes).")
        var file: String

        @Option(name: .long, help: "The pinned root public key to check the signature against.")
        var root: String?

        @Option(name: .long, help: "Judge staleness and key windows as of this time (RFC 3339 or YYYY-MM-DD). Default: now.")
        var at: String?

        @OptionGroup var output: OutputOptions

        func validate() throws {
            if let at, VerifyTime.parse(at) == nil { throw ValidationError("--at \(at) is neither RFC 3339 nor YYYY-MM-DD") }
        }

        func run() async throws {
            let json = output.json
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("trust.unreadable", "cannot read the trust list \(file)", field: "file", value: file,
                                     rule: "the file must exist and be readable", json: json)
            }
            let bytes = Array(data)
            let now = try at.flatMap(VerifyTime.parse) ?? currentClock().now()
            var report = ShowReport(file: file, signature: "unchecked", signatureDetail: nil,
                                    signerKid: TrustList.signerKid(bytes).map { Hex.encode($0) }, rootKid: nil,
                                    sequence: 0, issuedAt: "", nextUpdate: "", stale: false, keys: [], authorities: [])
            let list: TrustList
            do {
                list = try TrustList.readUnverified(bytes)
            } catch {
                throw CommandFailure("trust.\(error.code.rawValue)", "\(file): \(error.detail)", field: "file", value: file, json: json)
            }
            if let root {
                let rootKey = try PublicKey.load(path: root)
                report.rootKid = rootKey.kidHex
                do {
                    _ = try TrustList.verify(bytes, root: rootKey)
                    report.signature = "verified"
                } catch {
                    report.signature = "invalid"
                    report.signatureDetail = error.detail
                }
            }
            report.sequence = list.sequence
            report.issuedAt = list.issuedAt
            report.nextUpdate = list.nextUpdate
            report.stale = list.nextUpdateDate.map { now > $0 } ?? true
            var authorities: [String: ShowReport.Authority] = [:]
            var order: [String] = []
            for entry in list.keys {
                let key = Data(base64Encoded: entry.publicKey).flatMap { try? PublicKey(spki: Array($0)) }
                let from = RFC3339.date(entry.notBefore), until = RFC3339.date(entry.notAfter)
                let state: String
                if let from, let until {
                    state = now < from ? "notYetSigning" : (now > until ? "retired" : "signing")
                } else {
                    state = "invalidDates"
                }
                report.keys.append(.init(kid: entry.kid, alg: entry.alg, authority: entry.authority, name: entry.name, nameEn: entry.nameEn,
                                         phone: entry.phone, notBefore: entry.notBefore, notAfter: entry.notAfter,
                                         kidMatchesKey: key?.kidHex == entry.kid, state: state))
                if authorities[entry.authority] == nil {
                    order.append(entry.authority)
                    authorities[entry.authority] = .init(authority: entry.authority, name: entry.name, nameEn: entry.nameEn, phone: entry.phone, keys: 0)
                }
                authorities[entry.authority]!.keys += 1
            }
            report.authorities = order.map { authorities[$0]! }
            if json {
                Console.out(JSONOutput.line(report))
            } else {
                Console.out(report.text(output.language))
            }
            if report.signature == "invalid" || report.keys.contains(where: { !$0.kidMatchesKey }) { throw ExitCode(1) }
        }

        struct ShowReport: Encodable {
            struct Key: Encodable {
                var kid, alg, authority, name, nameEn, phone, notBefore, notAfter: String
                /// Whether `kid` is the first 8 bytes of SHA-256 of the public key (verifiers refuse a list where not).
                var kidMatchesKey: Bool
                /// signing, retired (past notAfter) or notYetSigning, as of now.
                var state: String
            }
            struct Authority: Encodable {
                var authority, name, nameEn, phone: String
                var keys: Int
            }
            var file: String
            /// verified, invalid, or unchecked (no --root).
            var signature: String
            var signatureDetail: String?
            var signerKid: String?
            var rootKid: String?
            var sequence: Int
            var issuedAt: String
            var nextUpdate: String
            var stale: Bool
            var keys: [Key]
            var authorities: [Authority]

            func text(_ lang: Language) -> String {
                var lines: [String] = []
                lines.append(lang.pick("信任列表    ", "trust list  ") + file)
                switch signature {
                case "verified": lines.append(lang.pick("签名        ✅ 已用根密钥 \(rootKid ?? "") 核验", "signature   ✅ verified with root \(rootKid ?? "")"))
                case "invalid": lines.append(lang.pick("签名        ❌ 根密钥 \(rootKid ?? "") 核验失败：", "signature   ❌ does NOT verify with root \(rootKid ?? ""): ") + (signatureDetail ?? ""))
                default: lines.append(lang.pick("签名        未核验（未给出 --root）", "signature   not checked (no --root)"))
                }
                lines.append(lang.pick("签名密钥    ", "signed by   ") + (signerKid ?? "?"))
                lines.append(lang.pick("序号 \(sequence)  签发 \(issuedAt)  下次更新 \(nextUpdate)", "sequence \(sequence)  issued \(issuedAt)  next update \(nextUpdate)")
                             + (stale ? lang.pick("  ⚠️ 已过期未更新", "  ⚠️ STALE") : ""))
                lines.append(lang.pick("\(authorities.count) 个签发机关，\(keys.count) 把密钥", "\(authorities.count) authorit\(authorities.count == 1 ? "y" : "ies"), \(keys.count) key(s)"))
                for authority in authorities {
                    lines.append("  \(authority.authority)  \(lang == .zh ? authority.name : authority.nameEn)  \(lang.pick("核验电话", "tel.")) \(authority.phone)")
                    for key in keys where key.authority == authority.authority {
                        let state: String
                        switch key.state {
                        case "signing": state = lang.pick("签发中", "signing")
                        case "retired": state = lang.pick("已停用", "retired")
                        case "notYetSigning": state = lang.pick("未启用", "not yet signing")
                        default: state = lang.pick("日期无效", "invalid dates")
                        }
                        lines.append("    kid \(key.kid)  \(key.alg)  \(key.notBefore) … \(key.notAfter)  \(state)"
                                     + (key.kidMatchesKey ? "" : lang.pick("  ❌ kid 与公钥不符", "  ❌ kid does not match the key")))
                    }
                }
                return lines.joined(separator: "\n")
            }
        }
    }
}
