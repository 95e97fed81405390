import Foundation
import PermitAPI
import PermitModel

/// Moving a deployment from one store to another (`permit db copy`): every table of the schema,
/// row for row and value for value, into an empty store, in one transaction on the target.
///
/// The copy works on stored values, not on records: a row goes over exactly as it is stored
/// (integers, times as integer milliseconds, text, blobs), so that the audit chain's hashes, the
/// signed documents and the checkpoints still verify on the target. The tables and columns are
/// listed here once (`StoredTable.all`, schema v5); each backend only reads and writes rows of
/// them (`StoreTableAccess`).
///
/// **One snapshot, one transaction.** The source is read in one read transaction (a consistent
/// snapshot, held in memory); the target is written in one write transaction, which also checks
/// that the target is empty, inserts every row, and reads every table back and compares it with
/// the source before it commits. Any failure rolls the whole copy back.
///
/// **Row ids.** Row ids are copied as they are. SQLite's AUTOINCREMENT counters
/// (`sqlite_sequence`) follow the largest id inserted, and the PostgreSQL store allocates one
/// more than the largest id, so the next insert on the target takes the id after the source's last.
public enum StoreCopy {
    /// Rows copied per table, in the order they were written.
    public struct TableCount: Sendable, Codable, Equatable {
        public var table: String
        public var rows: Int
        public init(table: String, rows: Int) {
            self.table = table
            self.rows = rows
        }
    }

    /// What one copy did.
    public struct Outcome: Sendable {
        public var tables: [TableCount]
        /// The schema migrations both stores record (by name).
        public var migrations: [String]
        /// Reading the source, from its snapshot's start to its end.
        public var readSeconds: Double
        /// The target's transaction, from its start to its commit (the read-back included).
        public var writeSeconds: Double
    }

    /// Copies every table of `source` into `target`, which must hold no row yet (its schema may
    /// exist: `schemaMigration` is the store's own record and is not copied, only compared).
    public static func copy(from source: any CopyableStore, to target: any CopyableStore) async throws -> Outcome {
        let sourceMigrations = try await source.appliedMigrations()
        let targetMigrations = try await target.appliedMigrations()
        guard Set(sourceMigrations) == Set(targetMigrations) else {
            let missing = Set(sourceMigrations).symmetricDifference(targetMigrations).sorted()
            throw StoreCopyError(Problem(code: "copy.schemaMismatch",
                message: "the source \(source.copyDescription) and the target \(target.copyDescription) are not at the same schema: \(missing.joined(separator: "; ")) is applied to only one of them",
                field: "to", value: target.copyDescription, rule: "both stores at the same migrations (open each with this build)"))
        }
        // A first look, so that a non-empty target is refused before the source is read; the
        // write transaction checks again.
        try await target.readStoredTables { io in try StoreCopy.refuseNonEmpty(io, target: target.copyDescription) }

        let readStart = DispatchTime.now().uptimeNanoseconds
        let contents: [[[StoredValue]]] = try await source.readStoredTables { io in
            try StoredTable.all.map { table in try StoreCopy.sorted(io.storedRows(table), table) }
        }
        let readSeconds = Double(DispatchTime.now().uptimeNanoseconds - readStart) / 1e9

        let writeStart = DispatchTime.now().uptimeNanoseconds
        try await target.writeStoredTables { io in
            try StoreCopy.refuseNonEmpty(io, target: target.copyDescription)
            var deferred: [(StoredTable, String, StoredValue, [(String, StoredValue)])] = []
            for (table, rows) in zip(StoredTable.all, contents) {
                let late = table.deferredColumnIndexes
                var batch: [[StoredValue]] = []
                batch.reserveCapacity(min(rows.count, table.batchSize))
                for row in rows {
                    var inserted = row
                    for i in late where row[i] != .null {
                        inserted[i] = .null
                        deferred.append((table, table.columns[i].name, row[i], table.keyIndexes.map { (table.columns[$0].name, row[$0]) }))
                    }
                    batch.append(inserted)
                    if batch.count == table.batchSize {
                        try io.insertStoredRows(batch, into: table)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                if !batch.isEmpty { try io.insertStoredRows(batch, into: table) }
            }
            // The links that point forward (a permit to its successor, an amendment to its
            // permit, a carried-over decision to the one it copies), once every row they name is in.
            for (table, column, value, key) in deferred {
                try io.updateStoredValue(table, column: column, value: value, key: key)
            }
            // Read back in the same transaction: what commits is what the source holds.
            for (table, rows) in zip(StoredTable.all, contents) {
                let copied = try StoreCopy.sorted(io.storedRows(table), table)
                guard copied != rows else { continue }
                let first = Array(zip(rows, copied)).firstIndex { $0.0 != $0.1 } ?? min(rows.count, copied.count)
                throw StoreCopyError(Problem(code: "copy.mismatch",
                    message: "the target \(target.copyDescription) read back table \(table.name) differently from the source (\(rows.count) rows copied, \(copied.count) read back, the first difference at row \(first + 1)); nothing was written",
                    field: "to", value: target.copyDescription, rule: "every row read back equal to the source's"))
            }
        }
        let writeSeconds = Double(DispatchTime.now().uptimeNanoseconds - writeStart) / 1e9
        return Outcome(tables: zip(StoredTable.all, contents).map { TableCount(table: $0.name, rows: $1.count) },
                       migrations: sourceMigrations, readSeconds: readSeconds, writeSeconds: writeSeconds)
    }

    /// The tables of `io` that hold rows, and how many.
    public static func nonEmptyTables(_ io: any StoreTableAccess) throws -> [TableCount] {
        try StoredTable.all.compactMap { table in
            let n = try io.storedRowCount(table)
            return n > 0 ? TableCount(table: table.name, rows: n) : nil
        }
    }

    static func refuseNonEmpty(_ io: any StoreTableAccess, target: String) throws {
        let held = try nonEmptyTables(io)
        guard !held.isEmpty else { return }
        let list = held.map { "\($0.table) \($0.rows)" }.joined(separator: ", ")
        throw StoreCopyError(Problem(code: "copy.targetNotEmpty",
            message: "the target \(target) is not empty (\(list) rows); nothing was written",
            field: "to", value: target,
            rule: "a copy goes into an empty database: no row in any table but schemaMigration"))
    }

    /// Rows in key order, compared value by value (the backends' own orders of text differ).
    static func sorted(_ rows: [[StoredValue]], _ table: StoredTable) -> [[StoredValue]] {
        let keys = table.keyIndexes
        return rows.sorted { a, b in
            for k in keys where a[k] != b[k] { return a[k] < b[k] }
            return false
        }
    }
}

/// A refusal or failure of a copy, with its problem (`copy.*`).
public struct StoreCopyError: Error, ProblemConvertible, Sendable, CustomStringConvertible {
    public var problems: [Problem]
    public init(_ problem: Problem) { problems = [problem] }
    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

/// A value as a backend stores it. Times are integers (milliseconds), documents blobs.
public enum StoredValue: Sendable, Hashable, Comparable {
    case null
    case integer(Int64)
    case text(String)
    case blob(Data)

    public static func < (a: StoredValue, b: StoredValue) -> Bool {
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x < y
        case let (.text(x), .text(y)): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
        case let (.blob(x), .blob(y)): return x.lexicographicallyPrecedes(y)
        default: return a.rank < b.rank
        }
    }

    private var rank: Int {
        switch self {
        case .null: return 0
        case .integer: return 1
        case .text: return 2
        case .blob: return 3
        }
    }
}

/// One table of the schema (v5) as the copy sees it: its columns in order, the columns of its
/// key (for order and for the deferred links), and which columns link forward.
public struct StoredTable: Sendable {
    public enum Kind: Sendable { case integer, text, blob }

    public struct Column: Sendable {
        public var name: String
        public var kind: Kind
    }

    public var name: String
    public var columns: [Column]
    public var key: [String]
    /// Columns that may name a row inserted after theirs (a foreign key to a later row, or to
    /// a row of a table inserted later): inserted as NULL, set once every row is in.
    public var deferred: [String] = []

    var keyIndexes: [Int] { key.map { k in columns.firstIndex { $0.name == k }! } }
    var deferredColumnIndexes: [Int] { deferred.map { d in columns.firstIndex { $0.name == d }! } }
    /// Rows a statement: PostgreSQL takes at most 65,535 parameters.
    var batchSize: Int { max(1, 8_000 / columns.count) }

    public var columnNames: [String] { columns.map(\.name) }

    init(_ name: String, key: [String], deferred: [String] = [], _ columns: [(String, Kind)]) {
        self.name = name
        self.key = key
        self.deferred = deferred
        self.columns = columns.map { Column(name: $0.0, kind: $0.1) }
    }

    /// Every table, in an order that inserts a row after the rows it names (apart from the
    /// deferred columns). `schemaMigration` (and SQLite's `grdb_migrations`) is each store's
    /// own record of its schema: compared, not copied.
    public static let all: [StoredTable] = [
        StoredTable("authority", key: ["code"], [("code", .text), ("name", .text), ("nameEn", .text), ("phone", .text),
                                                 ("maxDays", .integer), ("createdAt", .integer)]),
        StoredTable("key", key: ["kid", "role"], [("kid", .text), ("role", .text), ("alg", .text), ("spki", .blob),
                                                  ("notBefore", .integer), ("notAfter", .integer)]),
        StoredTable("partyKey", key: ["id"], [("id", .integer), ("kind", .text), ("party", .text), ("name", .text), ("kid", .text),
                                              ("alg", .text), ("spki", .blob), ("addedAt", .integer), ("removedAt", .integer),
                                              ("removedReason", .text)]),
        StoredTable("application", key: ["id"], deferred: ["amends"], [
            ("id", .integer), ("reference", .text), ("creditCode", .text), ("plate", .text), ("state", .text), ("document", .blob),
            ("digest", .text), ("submission", .blob), ("applicantKid", .text), ("routing", .blob), ("routingHash", .text),
            ("submittedAt", .integer), ("closedAt", .integer), ("closeReason", .text), ("permitNumber", .text), ("amends", .text)]),
        StoredTable("requiredDepartment", key: ["applicationID", "department"], [
            ("applicationID", .integer), ("department", .text), ("state", .text), ("dueAt", .integer), ("decidedAt", .integer)]),
        StoredTable("decision", key: ["id"], deferred: ["carriedFrom"], [
            ("id", .integer), ("applicationID", .integer), ("department", .text), ("decision", .text), ("conditions", .text),
            ("reason", .text), ("decidedAt", .integer), ("approverID", .integer), ("approverKid", .text), ("signature", .blob),
            ("carriedFrom", .integer)]),
        StoredTable("permit", key: ["number"], deferred: ["supersedes", "supersededBy"], [
            ("number", .text), ("applicationID", .integer), ("authority", .text), ("serial", .integer), ("issuedAt", .integer),
            ("validFrom", .text), ("validTo", .text), ("payload", .text), ("document", .blob), ("issuerKid", .text),
            ("signatureHash", .text), ("decisionToIssueMicros", .integer), ("supersedes", .text), ("supersededBy", .text)]),
        StoredTable("serial", key: ["authority"], [("authority", .text), ("last", .integer)]),
        StoredTable("audit", key: ["seq"], [("seq", .integer), ("at", .integer), ("actor", .text), ("action", .text), ("subject", .text),
                                            ("content", .blob), ("prevHash", .text), ("hash", .text)]),
        StoredTable("revocation", key: ["number"], [("number", .text), ("revokedAt", .integer), ("reason", .text), ("actor", .text)]),
        StoredTable("blacklist", key: ["id"], [("id", .integer), ("kind", .text), ("value", .text), ("reason", .text), ("until", .text),
                                               ("addedAt", .integer), ("actor", .text), ("removedAt", .integer), ("removedReason", .text)]),
        StoredTable("listSequence", key: ["name"], [("name", .text), ("last", .integer)]),
        StoredTable("auditCheckpoint", key: ["id"], [("id", .integer), ("length", .integer), ("headHash", .text), ("at", .integer),
                                                     ("signerKid", .text), ("signature", .blob)]),
        StoredTable("signedRequest", key: ["id"], [("id", .integer), ("action", .text), ("signerKid", .text), ("nonce", .text),
                                                   ("signedAt", .integer), ("receivedAt", .integer), ("cose", .blob)]),
        StoredTable("requestNonce", key: ["nonce"], [("nonce", .text), ("kid", .text), ("expiresAt", .integer)]),
    ]
}

/// Rows of the schema's tables as stored, inside one of a backend's transactions.
public protocol StoreTableAccess {
    /// Every row of `table`, its values in `table.columns`' order (in no particular row order).
    func storedRows(_ table: StoredTable) throws -> [[StoredValue]]
    func storedRowCount(_ table: StoredTable) throws -> Int
    /// Inserts rows exactly as given (ids included).
    func insertStoredRows(_ rows: [[StoredValue]], into table: StoredTable) throws
    /// Sets one column of the row whose key columns hold `key`.
    func updateStoredValue(_ table: StoredTable, column: String, value: StoredValue, key: [(String, StoredValue)]) throws
}

/// A store whose tables can be copied row for row (`StoreCopy`).
public protocol CopyableStore: PermitStore {
    /// Where the store is, to show: `sqlite:PATH`, or the URL with its password hidden.
    var copyDescription: String { get }
    /// The names of the schema migrations applied, as both backends name them.
    func appliedMigrations() async throws -> [String]
    /// Runs `body` against a consistent snapshot.
    func readStoredTables<T>(_ body: (any StoreTableAccess) throws -> T) async throws -> T
    /// Runs `body` in one write transaction; a thrown error rolls everything back.
    func writeStoredTables<T>(_ body: (any StoreTableAccess) throws -> T) async throws -> T
}
