import Foundation
import PermitAPI
import PermitModel
import PermitSeal
import PermitStore
import PermitStorePostgres

extension Workflow {
    /// Opens the store that a `--database` URL names: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (or `?host=/SOCKET/DIR` for a unix socket), created or migrated on the way. The URL
    /// replaces only the SQLite file: keys, `root.pub.pem` and the trust list stay in the data
    /// directory. A URL that cannot be used is refused with `database.url`.
    public static func openStore(database url: String) async throws -> any PermitStore {
        guard PostgresLocation.isPostgresURL(url) else {
            throw ProblemList([Problem(code: "database.url",
                                       message: "--database \(redactedDatabase(url)) is not a postgres:// URL (leave --database out for the data directory's SQLite file)",
                                       field: "database", value: redactedDatabase(url), rule: "postgres://USER[:PASSWORD]@HOST[:PORT]/DB")])
        }
        return try await PostgresPermitStore(location: PostgresLocation(url: url))
    }

    /// A `--database` URL to show: its password, if any, hidden.
    public static func redactedDatabase(_ url: String) -> String { PostgresLocation.redact(url) }

    /// Where a store keeps its data, to show: the SQLite file's path, or the database URL with
    /// its password hidden.
    static func describe(_ store: any PermitStore, in directory: DataDirectory) -> String {
        switch store {
        case let postgres as PostgresPermitStore: return postgres.location.redacted + (postgres.schema.map { " (schema \($0))" } ?? "")
        case let sqlite as SQLitePermitStore: return sqlite.path
        default: return directory.database.path
        }
    }
}
