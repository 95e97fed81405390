import Foundation
import PostgresNIO

/// A write whose answer its transaction does not need: an `INSERT` or `UPDATE`, written like a
/// `PostgresQuery` (values interpolated become bound parameters, never text of the SQL), but
/// kept until the transaction next talks to the server, so that the writes in between go as one
/// statement (see `PostgresTransaction.write`). Its values are bound only then, into the one
/// statement's parameters.
struct DeferredWrite: ExpressibleByStringInterpolation {
    enum Kind { case insert, update }

    /// The SQL's text between the values, and the values' binders, in order.
    fileprivate var literals: [String]
    fileprivate var values: [Cell]
    /// The table written and how, read from the statement's first words.
    let kind: Kind
    let table: String
    /// The one row it writes, by its primary key, when it writes one row by its key: an
    /// `UPDATE` of another row than every kept write's may join them in one statement (see `mayWriteSameRow`).
    private(set) var row: String?

    init(stringLiteral value: String) {
        self.init(literals: [value], values: [])
    }

    init(stringInterpolation: StringInterpolation) {
        self.init(literals: stringInterpolation.literals, values: stringInterpolation.values)
    }

    private init(literals: [String], values: [Cell]) {
        self.literals = literals
        self.values = values
        // The first three words only: a write's text is read for every write, inside the lock.
        let words = literals[0].split(maxSplits: 3, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\n" || $0 == "(" })
        switch (words.first?.uppercased(), words.count) {
        case ("INSERT", 3...) where words[1].uppercased() == "INTO":
            kind = .insert
            table = String(words[2])
        case ("UPDATE", 2...):
            kind = .update
            table = String(words[1])
        default:
            preconditionFailure("a deferred write is an INSERT INTO or an UPDATE: \(literals[0])")
        }
    }

    /// The same write, said to write the one row of its table with this primary key (nil: unknown).
    func row(_ key: String?) -> DeferredWrite {
        var write = self
        write.row = key
        return write
    }

    /// Whether `other`, an `UPDATE`, may touch a row that this write writes: the data-modifying
    /// `WITH` queries of one statement all see the database as it was before the statement, so
    /// such an update would miss this write (or race it), and must go in a statement of its own.
    /// Writes of one row each, to different rows by key, never meet.
    func mayWriteSameRow(as other: DeferredWrite) -> Bool {
        guard table == other.table else { return false }
        guard let mine = row, let theirs = other.row else { return true }
        return mine == theirs
    }

    struct StringInterpolation: StringInterpolationProtocol {
        fileprivate var literals: [String] = [""]
        fileprivate var values: [Cell] = []

        init(literalCapacity: Int, interpolationCount: Int) {}

        mutating func appendLiteral(_ literal: String) {
            literals[literals.count - 1] += literal
        }

        mutating func appendInterpolation<V: PostgresThrowingDynamicTypeEncodable>(_ value: V) {
            values.append(Cell(value))
            literals.append("")
        }

        mutating func appendInterpolation<V: PostgresThrowingDynamicTypeEncodable>(_ value: V?) {
            values.append(Cell(value))
            literals.append("")
        }
    }

    /// One value of a write: how it binds as a parameter of its own, and, where PostgreSQL's
    /// binary format gives it a type that has an array type, how it goes as an element of the
    /// array of its column's values (`ColumnArray`).
    fileprivate struct Cell {
        let bind: (inout PostgresBindings) throws -> Void
        /// The element's type, nil where it has no array type here (or its type is not known statically, for a NULL).
        let element: PostgresDataType?
        /// Its binary encoding, nil for NULL.
        let encode: ((inout ByteBuffer) throws -> Void)?

        init<V: PostgresThrowingDynamicTypeEncodable>(_ value: V?) {
            bind = { try $0.append(value) }
            if let value {
                element = value.psqlFormat == .binary && ColumnArray.arrayType(of: value.psqlType) != nil ? value.psqlType : nil
                encode = { try value.encode(into: &$0, context: .default) }
            } else {
                let type = V.self as? any PostgresEncodable.Type
                element = type.flatMap { $0.psqlFormat == .binary && ColumnArray.arrayType(of: $0.psqlType) != nil ? $0.psqlType : nil }
                encode = nil
            }
        }
    }

    /// The values of one column of several writes, bound as one array parameter in PostgreSQL's
    /// binary format (one dimension, NULL elements allowed), for `unnest`.
    fileprivate struct ColumnArray: PostgresThrowingDynamicTypeEncodable {
        let element: PostgresDataType
        let cells: [Cell]

        static func arrayType(of element: PostgresDataType) -> PostgresDataType? {
            switch element {
            case .bool: .boolArray
            case .bytea: .byteaArray
            case .int2: .int2Array
            case .int4: .int4Array
            case .int8: .int8Array
            case .text: .textArray
            case .varchar: .varcharArray
            case .float8: .float8Array
            default: nil
            }
        }

        /// The column of `cells`, nil unless every one has the same element type.
        init?(_ cells: [Cell]) {
            guard let element = cells.first?.element, cells.allSatisfy({ $0.element == element }) else { return nil }
            self.element = element
            self.cells = cells
        }

        var psqlType: PostgresDataType { Self.arrayType(of: element)! }
        var psqlFormat: PostgresFormat { .binary }

        func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) throws {
            buffer.writeInteger(1, as: Int32.self)  // dimensions
            buffer.writeInteger(cells.contains { $0.encode == nil } ? 1 : 0, as: Int32.self)  // has NULLs
            buffer.writeInteger(element.rawValue)
            buffer.writeInteger(Int32(cells.count))  // the dimension's length
            buffer.writeInteger(1, as: Int32.self)  // its lower bound
            for cell in cells {
                guard let encode = cell.encode else {
                    buffer.writeInteger(-1, as: Int32.self)
                    continue
                }
                let lengthAt = buffer.writerIndex
                buffer.writeInteger(0, as: Int32.self)
                try encode(&buffer)
                buffer.setInteger(Int32(buffer.writerIndex - lengthAt - 4), at: lengthAt)
            }
        }
    }

    /// The columns of `part`'s writes (all of one text), each as one array, or nil if one of
    /// them has no array type.
    private static func columns(of part: [DeferredWrite]) -> [ColumnArray]? {
        var columns: [ColumnArray] = []
        for n in part[0].values.indices {
            guard let column = ColumnArray(part.map { $0.values[n] }) else { return nil }
            columns.append(column)
        }
        return columns
    }

    /// The SQL with its values bound after those already in `bindings`.
    func render(into bindings: inout PostgresBindings) throws -> String {
        var sql = literals[0]
        for (n, cell) in values.enumerated() {
            try cell.bind(&bindings)
            sql += "$\(bindings.count)" + literals[n + 1]
        }
        return sql
    }

    /// Whether this is an `INSERT … VALUES (…)` with nothing after its one row (no `ON CONFLICT`,
    /// no `RETURNING`): such inserts of the same text are written as one multi-row `INSERT` (see
    /// `statement`). Its SQL up to the row is `literals[0]`, the separators between the row's
    /// values are the literals between, and the text after the row is the last.
    private var isSingleRow: Bool {
        guard kind == .insert, literals.count >= 2,
              Self.trimmed(literals[0]).reversed().starts(with: "VALUES (".utf8.reversed()),
              Self.trimmed(literals[literals.count - 1]).elementsEqual(")".utf8) else { return false }
        return literals.dropFirst().dropLast().allSatisfy { Self.trimmed($0).elementsEqual(",".utf8) }
    }

    /// The shape of an `UPDATE <table> SET <column> = <value>, … WHERE <key> = <value> AND …` of one
    /// row by its key (`row`), with nothing but plain names around its values: such updates of
    /// the same text are written as one `UPDATE … FROM (VALUES …)` (see `statement`). Nil for
    /// any other write.
    private var updateShape: (table: String, set: [String], keys: [String])? {
        guard kind == .update, row != nil, literals.count >= 3 else { return nil }
        func words(_ literal: String) -> [Substring] {
            literal.replacingOccurrences(of: ",", with: " , ").split(whereSeparator: { $0 == " " || $0 == "\n" })
        }
        func name(_ w: Substring) -> String? {
            guard let first = w.first, first.isLetter || first == "_",
                  w.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { return nil }
            return String(w)
        }
        let head = words(literals[0])
        guard head.count == 5, head[0].uppercased() == "UPDATE", head[2].uppercased() == "SET", head[4] == "=",
              let table = name(head[1]), let firstSet = name(head[3]) else { return nil }
        var set = [firstSet], keys: [String] = []
        for literal in literals.dropFirst().dropLast() {
            let w = words(literal)
            guard w.count == 3, w[2] == "=", let column = name(w[1]) else { return nil }
            switch w[0].uppercased() {
            case "," where keys.isEmpty: set.append(column)
            case "WHERE" where keys.isEmpty, "AND" where !keys.isEmpty: keys.append(column)
            default: return nil
            }
        }
        guard !keys.isEmpty, words(literals[literals.count - 1]).isEmpty else { return nil }
        return (table, set, keys)
    }

    /// The text's UTF-8 without the spaces and newlines at either end.
    private static func trimmed(_ text: String) -> Substring.UTF8View {
        var u = Substring(text).utf8
        while let b = u.first, b == 0x20 || b == 0x0A { u = u.dropFirst() }
        while let b = u.last, b == 0x20 || b == 0x0A { u = u.dropLast() }
        return u
    }

    /// One statement for `writes`: the last as the main statement, the others as data-modifying
    /// `WITH` queries, which PostgreSQL runs once each, to completion, whether or not anything
    /// reads them. They all see the database as it was before the statement, and their order
    /// among themselves is not defined, so `PostgresTransaction` never puts together an `UPDATE`
    /// with an earlier write that may touch its row. Single-row inserts of the same SQL become
    /// one `INSERT … SELECT * FROM unnest(…)` of an array a column (its rows in the order
    /// written), and single-row updates of the same SQL one `UPDATE … FROM unnest(…)` (their rows
    /// all different, by the same rule), which PostgreSQL plans once where it would plan each
    /// query of the `WITH` on its own. A column whose values have no array type here goes as
    /// rows of parameters instead: a multi-row `INSERT … VALUES`, an `UPDATE … FROM (VALUES …)`.
    static func statement(_ writes: [DeferredWrite]) throws -> PostgresQuery {
        precondition(!writes.isEmpty)
        var bindings = PostgresBindings()
        // Each part: one write, or the single-row inserts of one SQL text, in the order first written.
        var parts: [[DeferredWrite]] = []
        var partOfHead: [String: Int] = [:]
        for write in writes {
            if let n = partOfHead[write.literals[0]], parts[n][0].literals == write.literals {
                parts[n].append(write)
                continue
            }
            if write.isSingleRow || write.updateShape != nil { partOfHead[write.literals[0]] = parts.count }
            parts.append([write])
        }
        func render(_ part: [DeferredWrite]) throws -> String {
            guard part.count > 1 else { return try part[0].render(into: &bindings) }
            // Each column as one array: the statement's text, its parsing and its plan are the
            // same for any number of rows, where a row of parameters each made them grow with
            // the rows (in `perf` at 16 clients in the server bench, planning the kept writes'
            // statements fell from 1.4% of the machine's samples to 1.0%).
            let columns = columns(of: part)
            func unnest(_ columns: [ColumnArray]) throws -> String {
                "unnest(" + (try columns.map { column in
                    try bindings.append(column)
                    return "$\(bindings.count)"
                }).joined(separator: ", ") + ")"
            }
            if let shape = part[0].updateShape {
                let set = shape.set.enumerated().map { "\($1) = v.s\($0)" }.joined(separator: ", ")
                let names = (shape.set.indices.map { "s\($0)" } + shape.keys.indices.map { "k\($0)" }).joined(separator: ", ")
                let match = shape.keys.enumerated().map { "u.\($1) = v.k\($0)" }.joined(separator: " AND ")
                if let columns {
                    return "UPDATE \(shape.table) AS u SET \(set) FROM \(try unnest(columns)) AS v (\(names)) WHERE \(match)"
                }
                // One row of values each, its columns named by position: s0… set, k0… its key.
                // The first row, which matches no row of the table (its key is NULL), gives each
                // column its column's type: a NULL bound alone has none, and a column of NULLs
                // only would be text.
                var rows = ["(" + (shape.set + shape.keys).map { "(NULL::\(shape.table)).\($0)" }.joined(separator: ", ") + ")"]
                for write in part {
                    var row: [String] = []
                    for cell in write.values {
                        try cell.bind(&bindings)
                        row.append("$\(bindings.count)")
                    }
                    rows.append("(" + row.joined(separator: ", ") + ")")
                }
                return "UPDATE \(shape.table) AS u SET \(set) FROM (VALUES \(rows.joined(separator: ", "))) AS v (\(names)) WHERE \(match)"
            }
            let literals = part[0].literals
            if let columns, let values = literals[0].range(of: "VALUES", options: .backwards) {
                return literals[0][..<values.lowerBound] + "SELECT * FROM " + (try unnest(columns))
            }
            var sql = literals[0]
            for (r, write) in part.enumerated() {
                if r > 0 { sql += "), (" }
                for (n, cell) in write.values.enumerated() {
                    try cell.bind(&bindings)
                    sql += "$\(bindings.count)" + (n + 1 < literals.count - 1 ? literals[n + 1] : "")
                }
            }
            return sql + literals[literals.count - 1]
        }
        guard parts.count > 1 else { return PostgresQuery(unsafeSQL: try render(parts[0]), binds: bindings) }
        var sql = "WITH "
        for (n, part) in parts.dropLast().enumerated() {
            sql += (n == 0 ? "" : ", ") + "w\(n) AS (" + (try render(part)) + ")"
        }
        sql += " " + (try render(parts[parts.count - 1]))
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}
