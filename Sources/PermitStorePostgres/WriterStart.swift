import PostgresNIO

/// A writer's first statement: the authority's advisory lock, the writer's context
/// (`Context`) and, for a combined transaction (`PostgresTransaction.startWriting`), the
/// read-ahead of the writers it took before asking for the lock (`PostgresTransaction.readAhead`),
/// in one function, so that the lock's grant brings all of them in one answer. The read-ahead
/// was a round trip of its own right after the grant, with the lock held: on the two cores of the
/// server bench, about 3 ms of a 16–22 ms hold. A function, so that it is one statement and yet
/// its reads see every commit made before the lock was granted: in a function each statement
/// takes a snapshot of its own, where one plain statement would read the snapshot taken before
/// it waited for the lock.
///
/// One row type for the three kinds of rows, told apart by `kind`: `c` the context (`ctx…`
/// columns and the last audit event's), `a`/`i`/`f` applications (as the table names its
/// columns), `r`/`d` required departments and decisions (their columns under
/// `relatedPrefix`, since both share names with an application's). The columns a kind lacks are
/// NULL. Each `RETURN QUERY` takes a snapshot of its own, after the lock is granted, so each
/// sees every commit made before the grant.
enum WriterStart {
    static let name = "permit_writer_start"
    static let relatedPrefix = "x_"

    /// The reads alone, for a lock already held (`PostgresTransaction.readAhead`): the same rows
    /// but the context's, in one statement where they were two, each a round trip behind the
    /// lock, and each planned anew (a function's plans are kept by its connection).
    static let readAheadName = "permit_read_ahead"

    static func query(namespace: Int32, ids: [Int64], keys: [(creditCode: String, reference: String)]) -> PostgresQuery {
        var q = QueryBuilder("")
        let (n, i, c, r) = (q.bind(namespace), q.bind(ids), q.bind(keys.map(\.creditCode)), q.bind(keys.map(\.reference)))
        q.sql = "SELECT * FROM \(name)(\(n), \(i), \(c), \(r))"
        return q.query
    }

    static func readAheadQuery(ids: [Int64], keys: [(creditCode: String, reference: String)]) -> PostgresQuery {
        var q = QueryBuilder("")
        let (i, c, r) = (q.bind(ids), q.bind(keys.map(\.creditCode)), q.bind(keys.map(\.reference)))
        q.sql = "SELECT * FROM \(readAheadName)(\(i), \(c), \(r))"
        return q.query
    }

    /// The functions' one setting (`pg_proc.proconfig`). PL/pgSQL keeps a plan for each of its
    /// queries on its connection, but a query that reads its arguments gets a plan for their
    /// values (a custom plan) as long as one costs less than a plan for any: for arrays of a few
    /// keys it always did, so every call planned every query again (0.5–1.2% of the machine's
    /// samples in the server bench at 16 clients, in `perf`). Their plans read each row by its key whatever the
    /// arrays hold.
    static let setting = "plan_cache_mode=force_generic_plan"

    static let function = definition(locking: true)
    static let readAheadFunction = definition(locking: false)

    /// A function's body as `pg_proc.prosrc` holds it (between the dollar quotes), trimmed.
    static func body(of function: String) -> String {
        let parts = function.components(separatedBy: "$$")
        return parts.count == 3 ? parts[1].trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }

    private static let contextColumns: [(name: String, type: String)] = [
        ("ctxAuthority", "text"), ("ctxSerial", "integer"), ("ctxApplication", "bigint"), ("ctxDecision", "bigint"), ("ctxKids", "text[]"),
        ("ctxAlgs", "text[]"), ("ctxSpkis", "bytea[]"), ("ctxNotBefore", "bigint[]"), ("ctxNotAfter", "bigint[]"), ("seq", "bigint"),
        ("at", "bigint"), ("actor", "text"), ("action", "text"), ("subject", "text"), ("content", "bytea"), ("prevHash", "text"), ("hash", "text"),
    ]
    private static let applicationColumns: [(name: String, type: String)] = [
        ("id", "bigint"), ("reference", "text"), ("creditCode", "text"), ("plate", "text"), ("state", "text"), ("document", "bytea"),
        ("digest", "text"), ("submission", "bytea"), ("applicantKid", "text"), ("routing", "bytea"), ("routingHash", "text"),
        ("submittedAt", "bigint"), ("closedAt", "bigint"), ("closeReason", "text"), ("permitNumber", "text"), ("amends", "text"),
    ]
    /// A required department's columns, then a decision's own.
    private static let relatedColumns: [(name: String, type: String)] = [
        ("applicationID", "bigint"), ("department", "text"), ("state", "text"), ("dueAt", "bigint"), ("decidedAt", "bigint"), ("id", "bigint"),
        ("decision", "text"), ("conditions", "text"), ("reason", "text"), ("approverID", "bigint"), ("approverKid", "text"),
        ("signature", "bytea"), ("carriedFrom", "bigint"),
    ]

    /// `columns` from `alias` where it has them (by name, or the expression given), else NULL of the column's type.
    private static func select(_ columns: [(name: String, type: String)], _ values: [String: String]) -> String {
        columns.map { values[$0.name] ?? "NULL::\($0.type)" }.joined(separator: ", ")
    }

    private static func from(_ alias: String, _ columns: [(name: String, type: String)], only: Set<String>? = nil) -> [String: String] {
        Dictionary(uniqueKeysWithValues: columns.filter { only?.contains($0.name) ?? true }.map { ($0.name, "\(alias).\($0.name)") })
    }

    /// The position (1-based) of a related column in the row.
    private static func position(ofRelated column: String) -> Int {
        1 + contextColumns.count + applicationColumns.count + 1 + relatedColumns.firstIndex { $0.name == column }!
    }

    /// `permit_writer_start` (`locking`: the lock, then the context's row first) or `permit_read_ahead`.
    private static func definition(locking: Bool) -> String {
        let returns = (["kind text"] + contextColumns.map { "\($0.name) \($0.type)" } + applicationColumns.map { "\($0.name) \($0.type)" }
                       + relatedColumns.map { "\(relatedPrefix)\($0.name) \($0.type)" }).joined(separator: ", ")
        let issuer = "FROM key k WHERE k.role = 'issuer' ORDER BY k.notBefore, k.kid"
        let context: [String: String] = [
            "ctxAuthority": "(SELECT au.code FROM authority au LIMIT 1)",
            "ctxSerial": "(SELECT s.last FROM serial s WHERE s.authority = (SELECT au.code FROM authority au LIMIT 1))",
            "ctxApplication": "(SELECT COALESCE(MAX(ap.id), 0) FROM application ap)",
            "ctxDecision": "(SELECT COALESCE(MAX(de.id), 0) FROM decision de)",
            "ctxKids": "ARRAY(SELECT k.kid \(issuer))", "ctxAlgs": "ARRAY(SELECT k.alg \(issuer))", "ctxSpkis": "ARRAY(SELECT k.spki \(issuer))",
            "ctxNotBefore": "ARRAY(SELECT k.notBefore \(issuer))", "ctxNotAfter": "ARRAY(SELECT COALESCE(k.notAfter, -1) \(issuer))",
        ].merging(from("last", contextColumns, only: ["seq", "at", "actor", "action", "subject", "content", "prevHash", "hash"])) { a, _ in a }
        let none: [String: String] = [:]
        let requiredOnly: Set<String> = ["applicationID", "department", "state", "dueAt", "decidedAt"]
        let decisionOnly: Set<String> = ["applicationID", "department", "decidedAt", "id", "decision", "conditions", "reason", "approverID",
                                          "approverKid", "signature", "carriedFrom"]
        let start = !locking ? "" : """
              PERFORM pg_advisory_xact_lock(namespace, COALESCE((SELECT au.code::integer FROM authority au LIMIT 1), 0));
              RETURN QUERY
                SELECT 'c'::text, \(select(contextColumns, context)), \(select(applicationColumns, none)), \(select(relatedColumns, none))
                FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT * FROM audit ORDER BY seq DESC LIMIT 1) AS last ON true;

            """
        return """
            CREATE OR REPLACE FUNCTION \(locking ? "\(name)(namespace integer, " : "\(readAheadName)(")ids bigint[], codes text[], refs text[])
            RETURNS TABLE (\(returns))
            LANGUAGE plpgsql VOLATILE SET \(setting) AS $$
            #variable_conflict use_column
            BEGIN
            \(start)  RETURN QUERY
                SELECT x.kind, \(select(contextColumns, none)), \(select(applicationColumns, from("x", applicationColumns))), \(select(relatedColumns, none))
                FROM (
                  SELECT 'a'::text AS kind, a.* FROM unnest(ids) AS k (id)
                    CROSS JOIN LATERAL (SELECT * FROM application WHERE id = k.id OFFSET 0) a
                  UNION ALL
                  SELECT 'i', a.* FROM (SELECT DISTINCT y.plate FROM unnest(ids) AS k (id)
                      CROSS JOIN LATERAL (SELECT plate FROM application WHERE id = k.id OFFSET 0) y) AS p
                    CROSS JOIN LATERAL (SELECT * FROM application WHERE plate = p.plate AND \(PostgresTransaction.issuedOnly) OFFSET 0) a
                  UNION ALL
                  SELECT 'f', a.* FROM unnest(codes, refs) AS k (creditCode, reference)
                    CROSS JOIN LATERAL (SELECT * FROM application WHERE creditCode = k.creditCode AND reference = k.reference OFFSET 0) a
                ) x
                ORDER BY 1, x.id;
              RETURN QUERY
                SELECT 'r'::text, \(select(contextColumns, none)), \(select(applicationColumns, none)), \(select(relatedColumns, from("r", relatedColumns, only: requiredOnly)))
                FROM unnest(ids) AS k (id) CROSS JOIN LATERAL (SELECT * FROM requiredDepartment WHERE applicationID = k.id OFFSET 0) r
                UNION ALL
                SELECT 'd'::text, \(select(contextColumns, none)), \(select(applicationColumns, none)), \(select(relatedColumns, from("d", relatedColumns, only: decisionOnly)))
                FROM unnest(ids) AS k (id) CROSS JOIN LATERAL (SELECT * FROM decision WHERE applicationID = k.id OFFSET 0) d
                ORDER BY 1, \(position(ofRelated: "applicationID")), \(position(ofRelated: "department")), \(position(ofRelated: "id"));
            END
            $$
            """
    }
}
