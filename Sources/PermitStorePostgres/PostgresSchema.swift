/// The schema on PostgreSQL: the same tables, columns, indexes and rules as SQLite's, migration
/// for migration, under the same names (recorded in `schemaMigration`). Types map one to one:
/// INTEGER to BIGINT (times stay integer milliseconds, so the audit hash covers exact values),
/// BLOB to BYTEA, TEXT to TEXT. Names are unquoted, so PostgreSQL folds them to lower case.
///
/// Each migration is a list of single statements (postgres-nio's extended protocol runs one
/// statement at a time); all of a run's migrations commit together or not at all.
enum PostgresSchema {
    struct Migration {
        var identifier: String
        var statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(identifier: "v1: authority, keys, applications, decisions, permits, audit", statements: [
            """
            CREATE TABLE authority (
              code TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, nameEn TEXT NOT NULL, phone TEXT NOT NULL,
              maxDays INTEGER NOT NULL, createdAt BIGINT NOT NULL)
            """,
            """
            CREATE TABLE key (
              kid TEXT NOT NULL, role TEXT NOT NULL, alg TEXT NOT NULL, spki BYTEA NOT NULL,
              notBefore BIGINT NOT NULL, notAfter BIGINT, PRIMARY KEY (kid, role))
            """,
            """
            CREATE TABLE partyKey (
              id BIGINT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, party TEXT NOT NULL, name TEXT NOT NULL,
              kid TEXT NOT NULL, alg TEXT NOT NULL, spki BYTEA NOT NULL, addedAt BIGINT NOT NULL,
              removedAt BIGINT, removedReason TEXT)
            """,
            "CREATE UNIQUE INDEX partyKey_active_kid ON partyKey(kind, kid) WHERE removedAt IS NULL",
            """
            CREATE TABLE application (
              id BIGINT PRIMARY KEY NOT NULL, reference TEXT NOT NULL, creditCode TEXT NOT NULL,
              plate TEXT NOT NULL, state TEXT NOT NULL, document BYTEA NOT NULL, digest TEXT NOT NULL,
              submission BYTEA NOT NULL, applicantKid TEXT NOT NULL, routing BYTEA NOT NULL, routingHash TEXT NOT NULL,
              submittedAt BIGINT NOT NULL, closedAt BIGINT, closeReason TEXT, permitNumber TEXT,
              UNIQUE (creditCode, reference))
            """,
            "CREATE INDEX application_state ON application(state)",
            "CREATE INDEX application_plate ON application(plate)",
            """
            CREATE TABLE requiredDepartment (
              applicationID BIGINT NOT NULL REFERENCES application(id), department TEXT NOT NULL,
              state TEXT NOT NULL, dueAt BIGINT NOT NULL, decidedAt BIGINT,
              PRIMARY KEY (applicationID, department))
            """,
            "CREATE INDEX requiredDepartment_queue ON requiredDepartment(department, state, applicationID)",
            """
            CREATE TABLE decision (
              id BIGINT PRIMARY KEY NOT NULL, applicationID BIGINT NOT NULL REFERENCES application(id),
              department TEXT NOT NULL, decision TEXT NOT NULL, conditions TEXT NOT NULL, reason TEXT,
              decidedAt BIGINT NOT NULL, approverID BIGINT NOT NULL REFERENCES partyKey(id),
              approverKid TEXT NOT NULL, signature BYTEA NOT NULL)
            """,
            "CREATE INDEX decision_application ON decision(applicationID)",
            """
            CREATE TABLE permit (
              number TEXT PRIMARY KEY NOT NULL, applicationID BIGINT NOT NULL UNIQUE REFERENCES application(id),
              authority TEXT NOT NULL, serial INTEGER NOT NULL, issuedAt BIGINT NOT NULL,
              validFrom TEXT NOT NULL, validTo TEXT NOT NULL, payload TEXT NOT NULL, document BYTEA NOT NULL,
              issuerKid TEXT NOT NULL, signatureHash TEXT NOT NULL, decisionToIssueMicros BIGINT NOT NULL,
              UNIQUE (authority, serial))
            """,
            "CREATE TABLE serial (authority TEXT PRIMARY KEY NOT NULL, last INTEGER NOT NULL)",
            """
            CREATE TABLE audit (
              seq BIGINT PRIMARY KEY NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
              subject TEXT NOT NULL, content BYTEA NOT NULL, prevHash TEXT NOT NULL, hash TEXT NOT NULL)
            """,
            "CREATE INDEX audit_subject ON audit(subject)",
            // The audit trail is append-only, as SQLite's triggers make it; TRUNCATE, which skips
            // row triggers, is refused too. The class 23 code reads as `store.constraint`.
            """
            CREATE FUNCTION permit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation', MESSAGE = TG_ARGV[0];
            END
            $$
            """,
            "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION permit_refuse_change('the audit trail is append-only')",
            "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION permit_refuse_change('the audit trail is append-only')",
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION permit_refuse_change('the audit trail is append-only')",
        ]),
        Migration(identifier: "v2: revocations, supersession links, blacklist, list sequences, audit checkpoints", statements: [
            """
            CREATE TABLE revocation (
              number TEXT PRIMARY KEY NOT NULL REFERENCES permit(number), revokedAt BIGINT NOT NULL,
              reason TEXT NOT NULL, actor TEXT NOT NULL)
            """,
            "ALTER TABLE permit ADD COLUMN supersedes TEXT REFERENCES permit(number)",
            "ALTER TABLE permit ADD COLUMN supersededBy TEXT REFERENCES permit(number)",
            """
            CREATE TABLE blacklist (
              id BIGINT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL,
              until TEXT, addedAt BIGINT NOT NULL, actor TEXT NOT NULL, removedAt BIGINT, removedReason TEXT)
            """,
            "CREATE UNIQUE INDEX blacklist_active ON blacklist(kind, value) WHERE removedAt IS NULL",
            "CREATE TABLE listSequence (name TEXT PRIMARY KEY NOT NULL, last INTEGER NOT NULL)",
            """
            CREATE TABLE auditCheckpoint (
              id BIGINT PRIMARY KEY NOT NULL, length BIGINT NOT NULL, headHash TEXT NOT NULL, at BIGINT NOT NULL,
              signerKid TEXT NOT NULL, signature BYTEA NOT NULL)
            """,
        ]),
        Migration(identifier: "v3: amendments (application.amends) and carried-over decisions (decision.carriedFrom)", statements: [
            "ALTER TABLE application ADD COLUMN amends TEXT REFERENCES permit(number)",
            "CREATE INDEX application_amends ON application(amends) WHERE amends IS NOT NULL",
            "ALTER TABLE decision ADD COLUMN carriedFrom BIGINT REFERENCES decision(id)",
        ]),
        Migration(identifier: "v4: signed requests (administrative actions and cancellations, kept as evidence)", statements: [
            """
            CREATE TABLE signedRequest (
              id BIGINT PRIMARY KEY NOT NULL, action TEXT NOT NULL, signerKid TEXT NOT NULL,
              nonce TEXT NOT NULL UNIQUE, signedAt BIGINT NOT NULL, receivedAt BIGINT NOT NULL, cose BYTEA NOT NULL)
            """,
            "CREATE TRIGGER signedRequest_no_update BEFORE UPDATE ON signedRequest FOR EACH ROW EXECUTE FUNCTION permit_refuse_change('signed requests are kept as sent')",
        ]),
        Migration(identifier: "v5: HTTP request-signature nonces, kept until their signature expires", statements: [
            "CREATE TABLE requestNonce (nonce TEXT PRIMARY KEY NOT NULL, kid TEXT NOT NULL, expiresAt BIGINT NOT NULL)",
            "CREATE INDEX requestNonce_expiry ON requestNonce(expiresAt)",
        ]),
        Migration(identifier: "v6: an index on application(submittedAt), for the report since a day", statements: [
            "CREATE INDEX application_submittedAt ON application(submittedAt)",
        ]),
    ]
}
