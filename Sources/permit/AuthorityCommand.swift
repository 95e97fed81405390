import ArgumentParser
import Foundation
import PermitAPI
import PermitClient
import PermitSeal
import PermitWorkflow

/// `permit authority`: the issuing authorities of one deployment (one data directory, and on
/// PostgreSQL one database), under one root key and one trust list.
struct Authority: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add and list the issuing authorities of a deployment.",
        discussion: """
        `permit init` makes a deployment and its first authority; `authority add` adds another, with \
        its own issuer key, admin key, serial series, approvers, firms, blacklist and routing \
        override, under the deployment's root key. Verbs then take --authority CODE where the \
        deployment hosts several.

        Examples:
          permit authority add --code 330106 --name 杭州市西湖区交通运输局 --phone 0571-87000000
          permit authority list --json
        """,
        subcommands: [Add.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an issuing authority to the deployment, and re-sign the trust list with the root key.",
            discussion: """
            Makes DATA/authorities/CODE/: issuer-key.pem and admin-key.pem (0600), and permit.sqlite \
            (with --database, the schema aCODE in that PostgreSQL database instead). Registers the \
            deployment's root key for the new authority, and writes DATA/trust-list.cose again, \
            signed by the root key, listing every authority's issuer keys. Refuses a code the \
            deployment already hosts. A running `permit serve` serves the new authority after a restart.
            Exit codes: 0 added; 2 not added (usage, a bad code, name or phone, no deployment, an \
            unreadable root key, an authority already there).

            Examples:
              permit authority add --code 330106 --name 杭州市西湖区交通运输局 --phone 0571-87000000
              permit authority add --code 330106 --name 西湖区交通运输局 --name-en "Xihu District Transport Bureau" --phone 0571-87000000 --json
              permit authority add --database postgres://permit@db.internal/permits --data-dir /srv/permits --code 330106 --name 西湖区交通运输局 --phone 0571-87000000
              permit approver add --authority 330106 --department HEALTH --name 王审批 --generate xihu-health.pem --admin-key permit-data/authorities/330106/admin-key.pem
            """
        )

        @Option(help: "The new authority's 6-digit GB/T 2260 division code.")
        var code: String

        @Option(help: "The authority's name (Chinese).")
        var name: String

        @Option(name: .customLong("name-en"), help: "The authority's English name (default: --name).")
        var nameEn: String?

        @Option(help: "The verification phone number printed on permits.")
        var phone: String

        @Option(name: .customLong("max-days"), help: "The province's maximum validity in days.")
        var maxDays: Int = 30

        @Option(name: .customLong("root-key"), help: ArgumentHelp("The deployment's root key (default: DATA/root-key.pem).", valueName: "FILE"))
        var rootKey: String?

        @OptionGroup var data: LocalDataOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                var root: (any MessageSigner)?
                if let rootKey {
                    do { root = try PrivateKey.load(path: rootKey) } catch {
                        throw CommandFailure("keys.rootUnreadable", "the root key \(rootKey) cannot be read: \(error)", field: "rootKey", value: rootKey,
                                             rule: "the deployment's root key, made by permit init")
                    }
                }
                let result = try await Deployment.addAuthority(directory: data.directory, authority: code, name: name, nameEn: nameEn, phone: phone,
                                                               maxDays: maxDays, root: root, clock: try currentClock(), database: data.databaseURL)
                if output.json {
                    Console.out(JSONOutput.line(result))
                    return
                }
                func kid(_ path: String) -> String { (try? PublicKey.load(path: path).kidHex) ?? "?" }
                Console.out(lang.pick("已添加签发机关 \(result.authority) \(result.name)：\(result.dataDirectory)",
                                      "Added the authority \(result.authority) \(result.name): \(result.dataDirectory)"))
                let rows: [[String]] = [
                    [lang.pick("数据库", "database"), result.database, ""],
                    [lang.pick("签发密钥", "issuer key"), result.issuerKey, "kid " + kid(result.issuerKey)],
                    [lang.pick("管理密钥", "admin key"), result.adminKey, "kid " + kid(result.adminKey)],
                    [lang.pick("根密钥", "root key"), result.rootKey, ""],
                    [lang.pick("信任列表", "trust list"), result.trustList, ""],
                ]
                Console.out(rows.map { "  " + TextTable.pad($0[0], 12) + "  " + $0[1] + ($0[2].isEmpty ? "" : "  " + $0[2]) }.joined(separator: "\n"))
                Console.out(lang.pick("下一步：permit approver add --authority \(result.authority) … --admin-key \(result.adminKey)",
                                      "Next: permit approver add --authority \(result.authority) … --admin-key \(result.adminKey)"))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the deployment's issuing authorities.",
            discussion: """
            The first authority (made by permit init) first, then the added ones by code. With --json, \
            one JSON array of {code, name, nameEn, phone, maxDays, createdAt, dataDirectory, database, issuerKid}. \
            With --server URL (or PERMIT_SERVER), the authorities the server hosts (GET /v1/authorities, \
            no key needed): {code, name, nameEn, phone, maxDays, createdAt}.

            Examples:
              permit authority list
              permit authority list --json
              permit authority list --server https://permits.example.gov.cn --json
              permit authority list --database postgres://permit@db.internal/permits --data-dir /srv/permits
            """
        )

        @OptionGroup var data: LocalDataOptions

        @Option(help: ArgumentHelp("A permit server instead of the local data directory (default: $PERMIT_SERVER).", valueName: "URL"))
        var server: String?

        @OptionGroup var output: OutputOptions

        struct Row: Encodable {
            var code, name, nameEn, phone: String
            var maxDays: Int
            var createdAt: String
            var dataDirectory, database, issuerKid: String?
        }

        func validate() throws {
            if server != nil && data.database != nil { throw ValidationError("give --server URL or --database URL, not both: a server has its own database") }
        }

        func run() async throws {
            let lang = output.language
            try await reporting(json: output.json) {
                let url = server.flatMap { $0.isEmpty ? nil : $0 }
                    ?? ProcessInfo.processInfo.environment["PERMIT_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
                let rows: [Row]
                if let url {
                    rows = try await HTTPPermitService.hostedAuthorities(server: url).map {
                        Row(code: $0.code, name: $0.name, nameEn: $0.nameEn, phone: $0.phone, maxDays: $0.maxDays, createdAt: Timestamps.string($0.createdAt))
                    }
                } else {
                    rows = try await data.localDeployment().list().map {
                        Row(code: $0.code, name: $0.name, nameEn: $0.nameEn, phone: $0.phone, maxDays: $0.maxDays, createdAt: Timestamps.string($0.createdAt),
                            dataDirectory: $0.dataDirectory, database: $0.database, issuerKid: $0.issuerKid)
                    }
                }
                if output.json {
                    Console.out(JSONOutput.line(rows))
                    return
                }
                Console.out(lang.pick("\(rows.count) 个签发机关", "\(rows.count) authorit\(rows.count == 1 ? "y" : "ies")"))
                for r in rows {
                    Console.out("  " + r.code + "  " + TextTable.pad(r.name, 28) + "  " + r.phone + (r.dataDirectory.map { "  " + $0 } ?? ""))
                }
            }
        }
    }
}
