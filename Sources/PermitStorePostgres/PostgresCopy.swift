import Foundation
import NIOCore
import PermitAPI
import PermitModel
import PermitStore
import PostgresNIO

// MARK: copying (`StoreCopy`)

extension PostgresPermitStore: CopyableStore {
    public var copyDescription: String { location.redacted }

    public func readStoredTables<T>(_ body: (any StoreTableAccess) throws -> T) async throws -> T {
        try await transaction(write: false, body)
    }

    /// In a write transaction, which takes the advisory lock of the authority the target holds
    /// (none yet: the lock of an empty database, which `init` takes too).
    public func writeStoredTables<T>(_ body: (any StoreTableAccess) throws -> T) async throws -> T {
        try await transaction(write: true, body)
    }
}

/// The schema's tables row for row on PostgreSQL: many rows a statement, every value bound.
extension PostgresTransaction: StoreTableAccess {
    func storedRows(_ table: StoredTable) throws -> [[StoredValue]] {
        let result = try run(PostgresQuery(unsafeSQL: "SELECT \(table.columnNames.joined(separator: ", ")) FROM \(table.name)"))
        do {
            // The cells in order, without the per-row name lookup table of a random-access row.
            return try result.rows.map { row in
                try zip(table.columns, row).map { column, cell in
                    switch column.kind {
                    case .integer: return try cell.decode(Int64?.self).map(StoredValue.integer) ?? .null
                    case .text: return try cell.decode(String?.self).map(StoredValue.text) ?? .null
                    case .blob: return try cell.decode(ByteBuffer?.self).map { StoredValue.blob(Data($0.readableBytesView)) } ?? .null
                    }
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "a row of \(table.name) read from PostgreSQL does not have the expected shape: \(error)")
        }
    }

    func storedRowCount(_ table: StoredTable) throws -> Int {
        let result = try run(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table.name)"))
        var count: Int64 = 0
        for row in result.rows { count = try row.makeRandomAccess()[0].decode(Int64.self) }
        return Int(count)
    }

    func insertStoredRows(_ rows: [[StoredValue]], into table: StoredTable) throws {
        guard !rows.isEmpty else { return }
        var binds = PostgresBindings(capacity: rows.count * table.columns.count)
        var tuples: [String] = []
        tuples.reserveCapacity(rows.count)
        for row in rows {
            var marks: [String] = []
            for value in row {
                binds.append(value)
                marks.append("$\(binds.count)")
            }
            tuples.append("(" + marks.joined(separator: ", ") + ")")
        }
        forgetContext()
        try execute(PostgresQuery(unsafeSQL: "INSERT INTO \(table.name) (\(table.columnNames.joined(separator: ", "))) VALUES "
                                  + tuples.joined(separator: ", "), binds: binds))
    }

    func updateStoredValue(_ table: StoredTable, column: String, value: StoredValue, key: [(String, StoredValue)]) throws {
        var binds = PostgresBindings()
        binds.append(value)
        var conditions: [String] = []
        for (name, v) in key {
            binds.append(v)
            conditions.append("\(name) = $\(binds.count)")
        }
        forgetContext()
        try execute(PostgresQuery(unsafeSQL: "UPDATE \(table.name) SET \(column) = $1 WHERE " + conditions.joined(separator: " AND "), binds: binds))
    }
}

extension PostgresBindings {
    mutating func append(_ value: StoredValue) {
        switch value {
        case .null: appendNull()
        case .integer(let v): append(v)
        case .text(let s): append(s)
        case .blob(let d): append(ByteBuffer(bytes: d))
        }
    }
}
