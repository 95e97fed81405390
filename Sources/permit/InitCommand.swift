import ArgumentParser
import Foundation
import PermitAPI
import PermitSeal
import PermitWorkflow

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an authority's data directory: database, issuer/admin/root keys (0600), trust list.",
        discussion: """
        Refuses to touch a directory that already holds a permit database, or a --database that already \
        holds an authority. With --database the schema goes into that PostgreSQL database and the keys \
        into the data directory. Prints the paths and the \
        keys' kids, never private material. Keep admin-key.pem and root-key.pem off the issuing host \
        once approvers and firms are registered.

        Examples:
          permit init --authority 330114 --name 杭州市钱塘区交通运输局 --name-en "Qiantang District Transport Bureau" --phone 0571-86000000
          PERMIT_HOME=/srv/permits permit init --authority 330114 --name 钱塘区交通运输局 --phone 0571-86000000 --max-days 30 --json
          permit init --database postgres://permit@db.internal/permits --data-dir /srv/permits --authority 330114 --name 钱塘区交通运输局 --phone 0571-86000000
        """
    )

    @Option(help: "The issuing authority's 6-digit GB/T 2260 division code.")
    var authority: String

    @Option(help: "The authority's name (Chinese).")
    var name: String

    @Option(name: .customLong("name-en"), help: "The authority's English name (default: --name).")
    var nameEn: String?

    @Option(help: "The verification phone number printed on permits.")
    var phone: String

    @Option(name: .customLong("max-days"), help: "The province's maximum validity in days.")
    var maxDays: Int = 30

    @OptionGroup var data: LocalDataOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let lang = output.language
        try await reporting(json: output.json) {
            let result = try await Workflow.initialise(directory: data.directory, authority: authority, name: name, nameEn: nameEn,
                                                 phone: phone, maxDays: maxDays, clock: try currentClock(), database: data.databaseURL)
            if output.json {
                Console.out(JSONOutput.line(result))
                return
            }
            func kid(_ path: String) -> String { (try? PublicKey.load(path: path).kidHex) ?? "?" }
            Console.out(lang.pick("已创建数据目录 \(result.dataDirectory)", "Created the data directory \(result.dataDirectory)"))
            let rows: [[String]] = [
                [lang.pick("数据库", "database"), result.database, ""],
                [lang.pick("签发密钥", "issuer key"), result.issuerKey, "kid " + kid(result.issuerKey)],
                [lang.pick("管理密钥", "admin key"), result.adminKey, "kid " + kid(result.adminKey)],
                [lang.pick("根密钥", "root key"), result.rootKey, "kid " + kid(result.rootKey)],
                [lang.pick("信任列表", "trust list"), result.trustList, ""],
            ]
            Console.out(rows.map { "  " + TextTable.pad($0[0], 12) + "  " + $0[1] + ($0[2].isEmpty ? "" : "  " + $0[2]) }.joined(separator: "\n"))
            Console.out(lang.pick("下一步：permit approver add … --admin-key \(result.adminKey)",
                                  "Next: permit approver add … --admin-key \(result.adminKey)"))
        }
    }
}
