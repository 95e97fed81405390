import ArgumentParser
import Foundation
import PermitAPI
import PermitModel
import PermitSeal

/// A registered key as `approver`/`applicant` commands print it: nothing secret.
struct PartyKeyRow: Encodable {
    var kind: String
    /// The department code or the credit code.
    var party: String
    var partyName: String?
    var name: String
    var kid: String
    var alg: String
    var addedAt: String
    var removedAt: String?
    var removedReason: String?
    /// The private key file that `--generate` wrote.
    var keyFile: String?

    init(_ r: PartyKeyRecord, lang: Language, keyFile: String? = nil) {
        kind = r.kind.rawValue
        party = r.party
        partyName = Department(rawValue: r.party).map { lang.pick($0.nameZh, $0.nameEn) }
        name = r.name
        kid = r.kid
        alg = r.alg
        addedAt = Timestamps.string(r.addedAt)
        removedAt = r.removedAt.map(Timestamps.string)
        removedReason = r.removedReason
        self.keyFile = keyFile
    }
}

/// What `approver` and `applicant` share: only the party flag and its check differ.
enum PartyVerbs {
    static func add(kind: PartyKeyRecord.Kind, party: String, name: String, publicKeyFile: String?, generate: String?,
                    adminKeyFile: String, data: DataOptions, output: OutputOptions) async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            let admin = try partySigner(adminKeyFile, field: "admin-key")
            let service = try await data.service(signer: admin)
            let publicKey: PublicKey
            var written: String?
            if let generate {
                guard !FileManager.default.fileExists(atPath: generate) else {
                    throw CommandFailure("key.exists", "--generate \(generate) already exists; refusing to overwrite a key file",
                                         field: "generate", value: generate, rule: "a new file")
                }
                let key = PrivateKey.generate(.edDSA)
                do { try key.save(path: generate) } catch {
                    throw CommandFailure("key.unwritable", "--generate \(generate): \(error)", field: "generate", value: generate,
                                         rule: "a writable path")
                }
                publicKey = key.publicKey
                written = generate
            } else {
                publicKey = try loadPublicKey(publicKeyFile!, field: "public-key")
            }
            let record: PartyKeyRecord
            do {
                record = try await service.register(Data(admin.action(kind == .approver ? .approverAdd : .applicantAdd,
                                                                      .init(party: party, name: name, publicKey: publicKey.base64), authority: try await service.authority().code)))
            } catch {
                // Nothing registered: a key file made for it would only mislead.
                if let written { try? FileManager.default.removeItem(atPath: written) }
                throw error
            }
            let row = PartyKeyRow(record, lang: lang, keyFile: written)
            if output.json {
                Console.out(JSONOutput.line(row))
            } else {
                let who = row.partyName.map { "\(party) \($0)" } ?? party
                Console.out(lang.pick("已登记 \(kind == .approver ? "审批人" : "申请企业")密钥 \(row.kid)（\(row.alg)）：\(who)，\(name)",
                                      "Registered \(kind.rawValue) key \(row.kid) (\(row.alg)) for \(who), \(name)"))
                if let written { Console.out(lang.pick("私钥已写入 \(written)（0600）", "Private key written to \(written) (0600)")) }
            }
        }
    }

    static func remove(kind: PartyKeyRecord.Kind, kid: String?, keyFile: String?, reason: String, adminKeyFile: String,
                       data: DataOptions, output: OutputOptions) async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            let admin = try partySigner(adminKeyFile, field: "admin-key")
            let service = try await data.service(signer: admin)
            let target = try kid ?? loadPublicKey(keyFile!, field: "key").kidHex
            let record = try await service.unregister(Data(admin.action(kind == .approver ? .approverRemove : .applicantRemove,
                                                                        .init(kid: target.lowercased(), reason: reason), authority: try await service.authority().code)))
            let row = PartyKeyRow(record, lang: lang)
            if output.json {
                Console.out(JSONOutput.line(row))
            } else {
                Console.out(lang.pick("已注销密钥 \(row.kid)（\(row.party)，\(row.name)）：\(reason)",
                                      "Removed key \(row.kid) (\(row.party), \(row.name)): \(reason)"))
            }
        }
    }

    static func list(kind: PartyKeyRecord.Kind, party: String?, all: Bool, data: DataOptions, reader: ReaderKeyOptions,
                     output: OutputOptions) async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            let service = try await data.service(signer: try reader.signer())

            let rows = try await service.registered(kind, includeRemoved: all)
                .filter { party == nil || $0.party == party }
                .map { PartyKeyRow($0, lang: lang) }
            if output.json {
                Console.out(JSONOutput.line(rows))
                return
            }
            if rows.isEmpty {
                Console.out(lang.pick("（无）", "(none)"))
                return
            }
            let header = kind == .approver
                ? lang.pick(["部门", "名称", "姓名", "kid", "算法", "登记时间", "注销"], ["department", "name", "approver", "kid", "alg", "added", "removed"])
                : lang.pick(["信用代码", "", "企业", "kid", "算法", "登记时间", "注销"], ["credit code", "", "firm", "kid", "alg", "added", "removed"])
            Console.out(TextTable.render(header: header, rows: rows.map { row in
                [row.party, row.partyName ?? "", row.name, row.kid, row.alg, row.addedAt,
                 row.removedAt.map { $0 + " " + (row.removedReason ?? "") } ?? ""]
            }))
        }
    }
}

extension Language {
    func pick(_ zh: [String], _ en: [String]) -> [String] { self == .zh ? zh : en }
}

struct Approver: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register, remove and list the approvers' keys of the ten departments.",
        discussion: """
        Only a key registered here for a department can sign that department's decisions.

        Examples:
          permit approver add --department HEALTH --name 张卫 --generate health.pem --admin-key permit-data/admin-key.pem
          permit approver list --json
          permit approver remove --key health.pem --reason "laptop lost" --admin-key permit-data/admin-key.pem
        """,
        subcommands: [Add.self, Remove.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an approver's public key for a department (needs the admin key).",
            discussion: """
            With --generate a new EdDSA private key is written (mode 0600) and its public key registered; \
            the file is removed again if the registration is refused.

            Examples:
              permit approver add --department HEALTH --name 张卫 --generate health.pem --admin-key permit-data/admin-key.pem
              permit approver add --department POSTAL --name 李邮 --public-key postal.pub --admin-key admin-key.pem --json
            """
        )
        @OptionGroup var department: DepartmentOption
        @Option(help: "The approver's name.")
        var name: String
        @Option(name: .customLong("public-key"), help: ArgumentHelp("The approver's public key file (SPKI PEM/DER).", valueName: "FILE"))
        var publicKey: String?
        @Option(help: ArgumentHelp("Make a new EdDSA key at FILE (0600) and register it.", valueName: "FILE"))
        var generate: String?
        @OptionGroup var admin: AdminKeyOption
        @OptionGroup var data: DataOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (publicKey == nil) != (generate == nil) else { throw ValidationError("give exactly one of --public-key FILE and --generate FILE") }
        }

        func run() async throws {
            let d = department.department
            try await PartyVerbs.add(kind: .approver, party: d.rawValue, name: name, publicKeyFile: publicKey, generate: generate,
                               adminKeyFile: admin.adminKey, data: data, output: output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an approver's key (lost or compromised); from then on it is refused.",
            discussion: """
            Examples:
              permit approver remove --kid 3f9a0c12d4e5b6a7 --reason "laptop lost" --admin-key admin-key.pem
              permit approver remove --key health.pub --reason "left the department" --admin-key admin-key.pem --json
            """
        )
        @Option(help: "The key's kid (hex, as `approver list` shows).")
        var kid: String?
        @Option(help: ArgumentHelp("The key file (public or private) instead of --kid.", valueName: "FILE"))
        var key: String?
        @Option(help: "Why the key is removed (kept in the audit trail).")
        var reason: String
        @OptionGroup var admin: AdminKeyOption
        @OptionGroup var data: DataOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (kid == nil) != (key == nil) else { throw ValidationError("give exactly one of --kid KID and --key FILE") }
        }

        func run() async throws {
            try await PartyVerbs.remove(kind: .approver, kid: kid, keyFile: key, reason: reason, adminKeyFile: admin.adminKey, data: data, output: output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the registered approver keys.",
            discussion: """
            Examples:
              permit approver list
              permit approver list --department HEALTH --removed --json
            """
        )
        @Option(help: ArgumentHelp("Only this department's approvers.", valueName: "CODE"))
        var department: Department?
        @Flag(help: "Include removed keys.")
        var removed = false
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let d = department
            try await PartyVerbs.list(kind: .approver, party: d?.rawValue, all: removed, data: data, reader: reader, output: output)
        }
    }
}

struct Applicant: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register, remove and list the applicant firms' keys.",
        discussion: """
        A firm signs its applications with a key registered here for its unified social credit code.

        Examples:
          permit applicant add --credit-code 91330114MA24WY722X --name 杭州钱塘物流有限公司 --generate firm.pem --admin-key permit-data/admin-key.pem
          permit applicant list --json
          permit applicant remove --kid 3f9a0c12d4e5b6a7 --reason "key leaked" --admin-key permit-data/admin-key.pem
        """,
        subcommands: [Add.self, Remove.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a firm's public key for its unified social credit code (needs the admin key).",
            discussion: """
            A firm applies only for its own credit code, with a key registered here.

            Examples:
              permit applicant add --credit-code 91330114MA24WY722X --name 杭州钱塘物流有限公司 --generate qiantang.pem --admin-key admin-key.pem
              permit applicant add --credit-code 91330114MA24WY722X --name "Qiantang Logistics" --public-key firm.pub --admin-key admin-key.pem --json
            """
        )
        @Option(name: .customLong("credit-code"), help: "The firm's 18-character unified social credit code.")
        var creditCode: String
        @Option(help: "The firm's name.")
        var name: String
        @Option(name: .customLong("public-key"), help: ArgumentHelp("The firm's public key file (SPKI PEM/DER).", valueName: "FILE"))
        var publicKey: String?
        @Option(help: ArgumentHelp("Make a new EdDSA key at FILE (0600) and register it.", valueName: "FILE"))
        var generate: String?
        @OptionGroup var admin: AdminKeyOption
        @OptionGroup var data: DataOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (publicKey == nil) != (generate == nil) else { throw ValidationError("give exactly one of --public-key FILE and --generate FILE") }
        }

        func run() async throws {
            try await PartyVerbs.add(kind: .applicant, party: creditCode, name: name, publicKeyFile: publicKey, generate: generate,
                               adminKeyFile: admin.adminKey, data: data, output: output)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a firm's key; from then on its applications are refused.",
            discussion: """
            Examples:
              permit applicant remove --kid 3f9a0c12d4e5b6a7 --reason "key leaked" --admin-key admin-key.pem
              permit applicant remove --key firm.pub --reason "firm closed" --admin-key admin-key.pem --json
            """
        )
        @Option(help: "The key's kid (hex, as `applicant list` shows).")
        var kid: String?
        @Option(help: ArgumentHelp("The key file (public or private) instead of --kid.", valueName: "FILE"))
        var key: String?
        @Option(help: "Why the key is removed (kept in the audit trail).")
        var reason: String
        @OptionGroup var admin: AdminKeyOption
        @OptionGroup var data: DataOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (kid == nil) != (key == nil) else { throw ValidationError("give exactly one of --kid KID and --key FILE") }
        }

        func run() async throws {
            try await PartyVerbs.remove(kind: .applicant, kid: kid, keyFile: key, reason: reason, adminKeyFile: admin.adminKey, data: data, output: output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the registered applicant keys.",
            discussion: """
            Examples:
              permit applicant list
              permit applicant list --credit-code 91330114MA24WY722X --removed --json
            """
        )
        @Option(name: .customLong("credit-code"), help: "Only this firm's keys.")
        var creditCode: String?
        @Flag(help: "Include removed keys.")
        var removed = false
        @OptionGroup var data: DataOptions
        @OptionGroup var reader: ReaderKeyOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await PartyVerbs.list(kind: .applicant, party: creditCode, all: removed, data: data, reader: reader, output: output)
        }
    }
}
