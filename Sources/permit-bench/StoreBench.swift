import Foundation
import GRDB

/// `permit-bench store`: the cost of an empty write transaction and of a one-row insert
/// transaction in the same WAL configuration, as the floor under each workflow request.
func runStoreBench() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("permit-store-bench-\(UUID().uuidString).sqlite").path
    defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
    var config = Configuration()
    config.prepareDatabase { db in
        try db.execute(sql: "PRAGMA synchronous = NORMAL")
        try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
    }
    let pool = try DatabasePool(path: path, configuration: config)
    try pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)") }
    let blob = Data(repeating: 7, count: 600)
    let empty = Rate.measure(seconds: 0.3, rounds: 3) { _ in try! pool.write { _ in } }
    let insert = Rate.measure(seconds: 0.3, rounds: 3) { _ in try! pool.write { db in try db.cachedStatement(sql: "INSERT INTO t (payload) VALUES (?)").execute(arguments: [blob]) } }
    let read = Rate.measure(seconds: 0.3, rounds: 3) { _ in _ = try! pool.read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM t")) } }
    print(String(format: "store: empty write tx %.1f µs, one-insert tx %.1f µs, read tx %.1f µs", 1e6 / empty, 1e6 / insert, 1e6 / read))
}
