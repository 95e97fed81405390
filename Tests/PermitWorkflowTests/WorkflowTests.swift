import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import GRDB
import XCTest
import PermitTestSupport
@testable import PermitModel
@testable import PermitSeal
@testable import PermitStore
@testable import PermitWorkflow

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The store a test runs on: the data directory's SQLite file, or a fresh database in the
/// tests' throwaway PostgreSQL cluster (`TestPostgres`).
enum StoreKind: String {
    case sqlite, postgres

    /// A new, empty database for a data directory: nil for SQLite (the directory's own file),
    /// a `postgres://` URL otherwise.
    func newDatabase() throws -> String? {
        switch self {
        case .sqlite: return nil
        case .postgres: return try TestPostgres.shared().createDatabase()
        }
    }
}

/// Test cases whose tests run on both stores from one source: this class runs them on SQLite,
/// and a subclass that overrides `storeKind` (in OnPostgresTests.swift) runs them on PostgreSQL.
class StoreTestCase: XCTestCase {
    class var storeKind: StoreKind { .sqlite }
}

/// A fresh authority with one approver per department and one registered firm, on real SQLite
/// or real PostgreSQL.
final class Harness {
    let dir: DataDirectory
    let clock = FixedClock(ISO8601DateFormatter().date(from: "2026-11-30T01:00:00Z")!)
    let workflow: Workflow
    let admin: PrivateKey
    var approvers: [Department: PrivateKey] = [:]
    let firmKey = PrivateKey.generate(.edDSA)
    let otherFirmKey = PrivateKey.generate(.es256)
    let application: Application
    let storeKind: StoreKind
    /// The PostgreSQL database's URL; nil on SQLite.
    let database: String?

    init(store storeKind: StoreKind = .sqlite) async throws {
        self.storeKind = storeKind
        database = try storeKind.newDatabase()
        dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-wf-\(UUID().uuidString)"))
        _ = try await Workflow.initialise(directory: dir, authority: "330114", name: "杭州市钱塘区交通运输局", nameEn: "Qiantang Transport Bureau",
                                    phone: "0571-86000000", maxDays: 30, clock: clock, database: database)
        workflow = try await Workflow(directory: dir, clock: clock, database: database)
        admin = try PrivateKey.load(path: dir.adminKey.path)
        for d in Department.allCases {
            let k = PrivateKey.generate(d == .health ? .es256 : .edDSA)
            _ = try await workflow.register(.approver, party: d.rawValue, name: "\(d.nameZh)审批员", publicKey: k.publicKey, adminKey: admin)
            approvers[d] = k
        }
        application = try JSONDecoder().decode(Application.self, from: Data(contentsOf: fixtures.appendingPathComponent("typical-permit-application.json")))
        _ = try await workflow.register(.applicant, party: application.applicant.creditCode, name: application.applicant.name, publicKey: firmKey.publicKey, adminKey: admin)
        _ = try await workflow.register(.applicant, party: "91110108MA01AAAA1B".creditCodeFixed, name: "北京某物流有限公司", publicKey: otherFirmKey.publicKey, adminKey: admin)
    }

    deinit { try? FileManager.default.removeItem(at: dir.url) }

    func item(_ app: Application, index: Int = 0) -> ApplicationFileItem {
        ApplicationFileItem(index: index, line: nil, reference: app.reference, outcome: .application(app))
    }

    func variant(_ n: Int, categories: [String]? = nil) -> Application {
        var a = application
        a.reference = "QT-TEST-\(n)"
        a.vehicle.plate = "浙A" + String(format: "%05d", 10000 + n)
        if let categories { a.cargo.categories = categories }
        return a
    }

    func counts() throws -> (applications: Int, decisions: Int, permits: Int, audit: Int) {
        if let database {
            let text = try TestPostgres.shared().psql(database: TestPostgres.databaseName(of: database), """
                SELECT (SELECT count(*) FROM application) || ' ' || (SELECT count(*) FROM decision) || ' ' ||
                       (SELECT count(*) FROM permit) || ' ' || (SELECT count(*) FROM audit)
                """)
            let n = text.split(separator: " ").compactMap { Int($0) }
            guard n.count == 4 else { throw TestPostgresError("unexpected counts: \(text)") }
            return (n[0], n[1], n[2], n[3])
        }
        let q = try DatabaseQueue(path: dir.database.path)
        return try q.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM application")!, try Int.fetchOne(db, sql: "SELECT count(*) FROM decision")!,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM permit")!, try Int.fetchOne(db, sql: "SELECT count(*) FROM audit")!)
        }
    }

    /// Runs SQL straight on the database, as someone with access to it would: the sqlite3
    /// command-line tool on the data directory's file, or psql on the PostgreSQL database.
    /// With `expectFailure`, the SQL must be refused (by a trigger, say).
    func tamper(_ sql: String, expectFailure: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        if let database {
            do {
                try TestPostgres.shared().psql(database: TestPostgres.databaseName(of: database), sql)
                XCTAssertFalse(expectFailure, "psql accepted: \(sql)", file: file, line: line)
            } catch let error as TestPostgresError {
                XCTAssertTrue(expectFailure, "psql: \(error)", file: file, line: line)
            }
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [dir.database.path, sql]
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if expectFailure {
            XCTAssertNotEqual(p.terminationStatus, 0, "sqlite3 accepted: \(sql)", file: file, line: line)
        } else {
            XCTAssertEqual(p.terminationStatus, 0, "sqlite3: \(message)", file: file, line: line)
        }
    }

    /// SQL that drops a trigger, in this store's dialect.
    func dropTrigger(_ name: String, on table: String) -> String {
        storeKind == .postgres ? "DROP TRIGGER IF EXISTS \(name) ON \(table)" : "DROP TRIGGER IF EXISTS \(name)"
    }

    /// A blob literal, in this store's dialect.
    func blob(_ bytes: some Sequence<UInt8>) -> String {
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        return storeKind == .postgres ? "'\\x\(hex)'::bytea" : "X'\(hex)'"
    }
}

extension String {
    /// A credit code with its GB 32100 check character recomputed, for fixtures.
    var creditCodeFixed: String { String(prefix(17)) + String(CreditCode.checkCharacter(String(prefix(17)))!) }
}

class WorkflowTests: StoreTestCase {
    func testInitMakesKeys0600AndASignedTrustList() async throws {
        let h = try await Harness(store: Self.storeKind)
        for url in [h.dir.issuerKey, h.dir.adminKey, h.dir.rootKey] {
            let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as! Int
            XCTAssertEqual(mode & 0o777, 0o600, url.lastPathComponent)
        }
        let root = try PublicKey.load(path: h.dir.rootPublicKey.path)
        let list = try TrustList.verify(Array(try Data(contentsOf: h.dir.trustList)), root: root)
        let issuer = try PrivateKey.load(path: h.dir.issuerKey.path)
        XCTAssertEqual(list.keys.map(\.kid), [issuer.publicKey.kidHex])
        XCTAssertEqual(list.keys.first?.authority, "330114")
        await XCTAssertThrowsErrorAsync(try await Workflow.initialise(directory: h.dir, authority: "330114", name: "x", nameEn: nil, phone: "0571-86000000",
                                                                      maxDays: 30, database: h.database)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "init.exists")
        }
    }

    /// `init --phone` takes a landline without its hyphen and stores and publishes it with one.
    func testInitStoresALandlineWithItsHyphen() async throws {
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-wf-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let database = try Self.storeKind.newDatabase()
        _ = try await Workflow.initialise(directory: dir, authority: "330114", name: "杭州市钱塘区交通运输局", nameEn: nil,
                                    phone: "057186901234", maxDays: 30, database: database)
        let store: any PermitStore
        if let database { store = try await Workflow.openStore(database: database) } else { store = try SQLitePermitStore(path: dir.database.path) }
        let v113 = try await store.read { try $0.authority() }?.phone
        XCTAssertEqual(v113, "0571-86901234")
        let list = try TrustList.verify(Array(try Data(contentsOf: dir.trustList)), root: try PublicKey.load(path: dir.rootPublicKey.path))
        XCTAssertEqual(list.keys.first?.phone, "0571-86901234")
    }

    /// The store released while its background checkpoint is queued or running. The checkpoint's
    /// block used to hold the store, so its release ran the store's deinit on the checkpoint's
    /// queue, whose wait for that same queue trapped (seen at the end of `permit-bench server`).
    /// Each round releases the store right after the commit that starts a checkpoint.
    func testReleasingTheStoreWhileItCheckpointsDoesNotTrap() async throws {
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-wf-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: dir.url) }
        _ = try await Workflow.initialise(directory: dir, authority: "330114", name: "杭州市钱塘区交通运输局", nameEn: nil,
                                          phone: "0571-86000000", maxDays: 30)
        for _ in 0..<50 {
            var store: SQLitePermitStore? = try SQLitePermitStore(path: dir.database.path)
            for _ in 0..<32 { _ = try await store!.write { try $0.authority() } }
            store = nil
            XCTAssertNil(store)
        }
    }

    func testHappyPathIssuesAVerifiablePermitInTheLastApprovalsTransaction() async throws {
        let h = try await Harness(store: Self.storeKind)
        let r = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)
        XCTAssertNil(r[0].errors)
        XCTAssertEqual(r[0].departments, ["HEALTH"])
        let id = try XCTUnwrap(r[0].id)
        let d = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve, conditions: ["限夜间通行"])
        XCTAssertNil(d[0].errors)
        XCTAssertEqual(d[0].state, "issued")
        XCTAssertEqual(d[0].permitNumber, "330114000001")
        let history = try await h.workflow.history("330114000001")
        XCTAssertEqual(history.application.publicID, id)
        let permit = try XCTUnwrap(history.permit)
        // The payload verifies with the issuer key and carries the application's values, masked.
        let issuer = try PrivateKey.load(path: h.dir.issuerKey.path)
        let decoded = try PermitText.decode(permit.payload)
        XCTAssertNoThrow(try decoded.cose.verify(with: issuer.publicKey))
        let claims = try PermitClaims(decoding: decoded.cose.payload)
        XCTAssertEqual(claims.permit.number, "330114000001")
        XCTAssertEqual(claims.issuer, "330114")
        XCTAssertEqual(claims.permit.vehicle.plate, h.application.vehicle.plate)
        XCTAssertEqual(claims.permit.crew.map(\.maskedDocument), ["330106********1235", "330102********2468"])
        XCTAssertEqual(claims.permit.approvedBy, [7])
        XCTAssertEqual(claims.permit.conditions, ["限夜间通行"])
        XCTAssertEqual(claims.issuedAt, UInt64(h.clock.now().timeIntervalSince1970))
        // The approval is a COSE_Sign1 by the approver's key over the decision.
        let decision = try XCTUnwrap(history.decisions.first)
        XCTAssertNoThrow(try COSESign1.decode(Array(decision.signature)).verify(with: h.approvers[.health]!.publicKey))
        XCTAssertEqual(history.events.map(\.action), ["apply", "approve", "issue"])
        let v112 = try await h.workflow.store.read { try $0.auditEvents(subject: nil) }
        XCTAssertNil(AuditChain.firstBrokenLink(v112))
    }

    func testALoadNeedingTwoDepartmentsWaitsForBoth() async throws {
        let h = try await Harness(store: Self.storeKind)
        let app = h.variant(1, categories: ["medical-supplies", "mail-and-parcels"])
        let v111 = try await h.workflow.apply([h.item(app)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v111)
        let v110 = try await h.workflow.history(id).required.map(\.department).sorted()
        XCTAssertEqual(v110, ["HEALTH", "POSTAL"])
        let first = try await h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [id], decision: .approve)
        XCTAssertEqual(first[0].state, "pending")
        XCTAssertEqual(try h.counts().permits, 0)
        let second = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)
        XCTAssertEqual(second[0].state, "issued")
        let claims = try await PermitClaims(decoding: try PermitText.decode(try h.workflow.history(id).permit!.payload).cose.payload)
        XCTAssertEqual(claims.permit.approvedBy, [7, 10])
    }

    func testWrongDepartmentsKeyIsRefusedAndNothingIsWritten() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v109 = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v109)
        let before = try h.counts()
        await XCTAssertThrowsErrorAsync(try await h.workflow.decide(department: .health, key: h.approvers[.postal]!, identifiers: [id], decision: .approve)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notApprover")
        }
        await XCTAssertThrowsErrorAsync(try await h.workflow.decide(department: .health, key: PrivateKey.generate(.edDSA), identifiers: [id], decision: .approve))
        XCTAssertEqual(try h.counts().decisions, before.decisions)
        XCTAssertEqual(try h.counts().audit, before.audit)
        // A department the application was not routed to cannot decide on it.
        let r = try await h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [id], decision: .approve)
        XCTAssertEqual(r[0].errors?.first?.code, "decision.notRequired")
        XCTAssertEqual(try h.counts().decisions, before.decisions)
    }

    func testRemovedApproverKeyIsRefused() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v108 = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v108)
        let key = h.approvers[.health]!
        _ = try await h.workflow.unregister(.approver, kid: key.publicKey.kidHex, reason: "lost laptop", adminKey: h.admin)
        await XCTAssertThrowsErrorAsync(try await h.workflow.decide(department: .health, key: key, identifiers: [id], decision: .approve)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notApprover")
        }
        XCTAssertEqual(try h.counts().decisions, 0)
    }

    /// The signer of the request being served (`AuthenticatedRequest.signer`, which the server
    /// sets to the key it read from the store to authenticate the request) stands for the store's
    /// record of the same key: the decisions and submissions that key signed in that request are
    /// checked against it without reading it again. Here the key is removed after the "request"
    /// was authenticated, so only a read of the store would refuse it. A record of another
    /// department is still refused, and a key the signer does not name is read from the store.
    func testTheAuthenticatedSignerStandsForTheStoresRecordOfTheSameKey() async throws {
        let h = try await Harness(store: Self.storeKind)
        let ids = try await h.workflow.apply([h.item(h.variant(1)), h.item(h.variant(2), index: 1), h.item(h.variant(3), index: 2)], key: h.firmKey).map(\.id)
        XCTAssertEqual(ids.compactMap { $0 }.count, 3)
        let key = h.approvers[.health]!
        let health = try await h.workflow.store.read { try $0.activePartyKey(kind: .approver, kid: key.publicKey.kidHex) }
        let postal = try await h.workflow.store.read { try $0.activePartyKey(kind: .approver, kid: h.approvers[.postal]!.publicKey.kidHex) }
        let firm = try await h.workflow.store.read { try $0.activePartyKey(kind: .applicant, kid: h.firmKey.publicKey.kidHex) }
        XCTAssertNotNil(health)
        _ = try await h.workflow.unregister(.approver, kid: key.publicKey.kidHex, reason: "调岗", adminKey: h.admin)
        _ = try await h.workflow.unregister(.applicant, kid: h.firmKey.publicKey.kidHex, reason: "注销", adminKey: h.admin)

        let decided = try await AuthenticatedRequest.$signer.withValue(health) {
            try await h.workflow.decide(department: .health, key: key, identifiers: [ids[0]!], decision: .approve)
        }
        XCTAssertNil(decided[0].errors, "\(decided[0].errors ?? [])")
        XCTAssertEqual(decided[0].state, ApplicationState.issued.rawValue)
        await XCTAssertThrowsErrorAsync(try await h.workflow.decide(department: .health, key: key, identifiers: [ids[1]!], decision: .approve)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notApprover", "read from the store: removed")
        }
        await XCTAssertThrowsErrorAsync(try await AuthenticatedRequest.$signer.withValue(postal) {
            try await h.workflow.decide(department: .health, key: key, identifiers: [ids[1]!], decision: .approve)
        }) { XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notApprover", "another key: read from the store") }
        await XCTAssertThrowsErrorAsync(try await AuthenticatedRequest.$signer.withValue(health) {
            try await h.workflow.decide(department: .postal, key: key, identifiers: [ids[2]!], decision: .approve)
        }) { XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notApprover", "the record is of another department") }

        let applied = try await AuthenticatedRequest.$signer.withValue(firm) {
            try await h.workflow.apply([h.item(h.variant(4))], key: h.firmKey)
        }
        XCTAssertNil(applied[0].errors, "\(applied[0].errors ?? [])")
        XCTAssertNotNil(applied[0].id)
        await XCTAssertThrowsErrorAsync(try await h.workflow.apply([h.item(h.variant(5))], key: h.firmKey)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notApplicant", "read from the store: removed")
        }
        XCTAssertEqual(try h.counts().applications, 4)
    }

    func testAdminVerbsNeedTheAdminKey() async throws {
        let h = try await Harness(store: Self.storeKind)
        let before = try h.counts()
        for notAdmin in [PrivateKey.generate(.edDSA), try PrivateKey.load(path: h.dir.issuerKey.path), try PrivateKey.load(path: h.dir.rootKey.path)] {
            await XCTAssertThrowsErrorAsync(try await h.workflow.register(.approver, party: "HEALTH", name: "x", publicKey: PrivateKey.generate(.edDSA).publicKey, adminKey: notAdmin)) {
                XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notAdmin")
            }
            await XCTAssertThrowsErrorAsync(try await h.workflow.unregister(.approver, kid: h.approvers[.health]!.publicKey.kidHex, reason: "x", adminKey: notAdmin))
        }
        XCTAssertEqual(try h.counts().audit, before.audit)
    }

    func testAFirmCannotApplyForOrCancelAnothersApplication() async throws {
        let h = try await Harness(store: Self.storeKind)
        // The other firm's key applying with this firm's credit code: refused for that item only.
        var other = h.variant(2)
        other.reference = "BJ-1"
        let results = try await h.workflow.apply([h.item(h.application, index: 0), h.item(other, index: 1)], key: h.otherFirmKey)
        XCTAssertEqual(results.map { $0.errors?.first?.code }, ["applicant.creditCodeMismatch", "applicant.creditCodeMismatch"])
        XCTAssertEqual(try h.counts().applications, 0)
        let v107 = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v107)
        await XCTAssertThrowsErrorAsync(try await h.workflow.cancel(id, key: h.otherFirmKey, reason: nil)) {
            XCTAssertEqual(($0 as? WorkflowError)?.problems.first?.code, "auth.notOwner")
        }
        let v106 = try await h.workflow.resolve(id).state
        XCTAssertEqual(v106, .pending)
        let v105 = try await h.workflow.cancel(id, key: h.firmKey, reason: "truck broke down").state
        XCTAssertEqual(v105, .cancelled)
        // An unregistered key cannot apply at all.
        await XCTAssertThrowsErrorAsync(try await h.workflow.apply([h.item(h.application)], key: PrivateKey.generate(.edDSA)))
    }

    func testARejectionLeavesNoPermit() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v104 = try await h.workflow.apply([h.item(h.variant(3, categories: ["dangerous-goods"]))], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v104)
        let v103 = try await h.workflow.history(id).required.map(\.department).sorted()
        XCTAssertEqual(v103, ["PUBLIC_SECURITY", "TRANSPORT"])
        _ = try await h.workflow.decide(department: .transport, key: h.approvers[.transport]!, identifiers: [id], decision: .approve)
        let r = try await h.workflow.decide(department: .publicSecurity, key: h.approvers[.publicSecurity]!, identifiers: [id], decision: .reject, reason: "车辆无危险货物运输资质")
        XCTAssertEqual(r[0].state, "rejected")
        XCTAssertEqual(try h.counts().permits, 0)
        let v102 = try await h.workflow.resolve(id).state
        XCTAssertEqual(v102, .rejected)
        // No further decisions on a rejected application.
        await XCTAssertThrowsErrorAsync(try await h.workflow.decide(department: .publicSecurity, key: h.approvers[.publicSecurity]!, identifiers: [id], decision: .reject))
    }

    func testEachPermitIsIssuedOnceAndSerialsHaveNoGaps() async throws {
        let h = try await Harness(store: Self.storeKind)
        let apps = (10..<40).map { h.variant($0, categories: $0 % 3 == 0 ? ["dangerous-goods"] : ["medical-supplies"]) }
        let ids = try await h.workflow.apply(apps.enumerated().map { h.item($0.element, index: $0.offset) }, key: h.firmKey).map { $0.id! }
        // One application rejected, one cancelled: neither takes a serial.
        _ = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [ids[1]], decision: .reject, reason: "资料不全")
        _ = try await h.workflow.cancel(ids[2], key: h.firmKey, reason: nil)
        for d in [Department.health, .transport, .publicSecurity] {
            let queue = try await h.workflow.queue(department: d, overdue: false).map { $0.0.publicID }
            _ = try await h.workflow.decide(department: d, key: h.approvers[d]!, identifiers: queue, decision: .approve)
            // Approving again changes nothing.
            let again = try await h.workflow.decide(department: d, key: h.approvers[d]!, identifiers: queue, decision: .approve)
            XCTAssertTrue(again.allSatisfy { $0.errors != nil })
        }
        let permits = try await h.workflow.store.read { try $0.permits(limit: nil) }
        XCTAssertEqual(permits.count, 28)
        XCTAssertEqual(permits.map(\.serial), Array(1...28))
        XCTAssertEqual(Set(permits.map(\.applicationID)).count, 28)
        XCTAssertEqual(Set(permits.map(\.number)).count, 28)
    }

    /// A batch of decisions is written in one transaction a group, each decision in a savepoint:
    /// an item that fails leaves nothing behind and takes nothing from the others (not even a
    /// serial), the same application twice in one batch is decided once, and a permit issued in
    /// the group supersedes the vehicle's older one, and is superseded by the next one issued in
    /// the group for the same vehicle. The failure here comes from the store itself
    /// (a trigger refusing one permit), where PostgreSQL reports it at COMMIT, outside any
    /// savepoint, and the transaction runs again with its savepoints sent and waited for.
    func testEachDecisionOfAGroupIsWrittenWholeOrNotAtAll() async throws {
        let h = try await Harness(store: Self.storeKind)
        let plate = "浙A77777"
        let older = try await h.issue(h.variant(50, plate: plate))
        let apps = [h.variant(51), h.variant(52), h.variant(53, categories: ["dangerous-goods"]), h.variant(54, plate: plate),
                    h.variant(55, plate: plate)]
        let ids = try await h.workflow.apply(apps.enumerated().map { h.item($0.element, index: $0.offset) }, key: h.firmKey).map { try XCTUnwrap($0.id) }
        let refused = try XCTUnwrap(ApplicationRecord.rowID(of: ids[1]))
        if h.storeKind == .postgres {
            try h.tamper("""
                CREATE FUNCTION refuse_permit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.applicationID = \(refused) THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER permit_refused BEFORE INSERT ON permit FOR EACH ROW EXECUTE FUNCTION refuse_permit();
                """)
        } else {
            try h.tamper("CREATE TRIGGER permit_refused BEFORE INSERT ON permit WHEN NEW.applicationID = \(refused) BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        }
        let before = try h.counts()
        let batch = [ids[0], ids[1], ids[0], ids[2], ids[3], ids[4]]
        let results = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: batch, decision: .approve)
        XCTAssertEqual(results.map(\.id), batch)
        XCTAssertEqual(results[0].state, "issued", "\(results[0].errors ?? [])")
        XCTAssertEqual(results[1].errors?.first?.code, "store.constraint", "\(results[1])")
        XCTAssertNil(results[1].permitNumber)
        XCTAssertEqual(results[2].errors?.first?.code, "application.notPending")
        XCTAssertEqual(results[3].errors?.first?.code, "decision.notRequired")
        XCTAssertEqual(results[4].state, "issued", "\(results[4].errors ?? [])")
        XCTAssertEqual(results[5].state, "issued", "\(results[5].errors ?? [])")
        // Three decisions and three permits written, none of the refused item's: serials 2, 3 and 4.
        let after = try h.counts()
        XCTAssertEqual(after.decisions - before.decisions, 3)
        XCTAssertEqual(after.permits - before.permits, 3)
        XCTAssertEqual(results.compactMap(\.permitNumber), ["330114000002", "330114000003", "330114000004"])
        let refusedHistory = try await h.workflow.history(ids[1])
        XCTAssertEqual(refusedHistory.application.state, .pending)
        XCTAssertEqual(refusedHistory.required.map(\.state), [.pending])
        XCTAssertTrue(refusedHistory.decisions.isEmpty)
        // The vehicle's older permit is superseded by the first issued in the group, and that one
        // by the second, which must see the first as issued.
        let superseded = try await h.workflow.history(older.id)
        XCTAssertEqual(superseded.permit?.supersededBy, results[4].permitNumber)
        XCTAssertEqual(superseded.revocation?.reason, "superseded")
        let supersededInGroup = try await h.workflow.history(ids[3])
        XCTAssertEqual(supersededInGroup.permit?.supersededBy, results[5].permitNumber)
        XCTAssertEqual(supersededInGroup.revocation?.reason, "superseded")
        // Without the trigger the refused application is approved and takes the next serial.
        try h.tamper(h.dropTrigger("permit_refused", on: "permit"))
        let again = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [ids[1]], decision: .approve)
        XCTAssertEqual(again[0].permitNumber, "330114000005", "\(again[0].errors ?? [])")
        let audit = try await h.workflow.verifyAudit()
        XCTAssertTrue(audit.ok, "\(audit.findings)")
    }

    /// The signer of a request is looked up by its kid in one read: the current admin key, or the
    /// active party keys, applicants' before approvers'; a removed key is not found.
    func testARequestsSignerIsFoundByItsKid() async throws {
        let h = try await Harness(store: Self.storeKind)
        let both = PrivateKey.generate(.edDSA)
        _ = try await h.workflow.register(.approver, party: "POSTAL", name: "两用", publicKey: both.publicKey, adminKey: h.admin)
        _ = try await h.workflow.register(.applicant, party: "91110108MA01AAAA1B".creditCodeFixed, name: "两用", publicKey: both.publicKey, adminKey: h.admin)
        func signers(_ key: PublicKey) async throws -> (admin: String?, parties: [String]) {
            let found = try await h.workflow.store.read { try $0.requestSigners(kid: key.kidHex) }
            return (found.admin.map { "\($0.role.rawValue) \($0.kid) \($0.alg)" }, found.parties.map { "\($0.kind.rawValue) \($0.party) \($0.kid)" })
        }
        let admin = try await signers(h.admin.publicKey)
        XCTAssertEqual(admin.admin, "admin \(h.admin.publicKey.kidHex) \(h.admin.algorithm.rawValue)")
        XCTAssertEqual(admin.parties, [])
        let firm = try await signers(h.firmKey.publicKey)
        XCTAssertNil(firm.admin)
        XCTAssertEqual(firm.parties, ["applicant \(h.application.applicant.creditCode) \(h.firmKey.publicKey.kidHex)"])
        let twice = try await signers(both.publicKey)
        XCTAssertEqual(twice.parties, ["applicant \("91110108MA01AAAA1B".creditCodeFixed) \(both.publicKey.kidHex)", "approver POSTAL \(both.publicKey.kidHex)"])
        _ = try await h.workflow.unregister(.approver, kid: h.approvers[.health]!.publicKey.kidHex, reason: "lost", adminKey: h.admin)
        let removed = try await signers(h.approvers[.health]!.publicKey)
        XCTAssertNil(removed.admin)
        XCTAssertEqual(removed.parties, [])
        let stranger = try await signers(PrivateKey.generate(.es256).publicKey)
        XCTAssertNil(stranger.admin)
        XCTAssertEqual(stranger.parties, [])
        let caller = try await LocalPermitService(workflow: h.workflow).caller(kid: h.approvers[.transport]!.publicKey.kidHex)
        XCTAssertEqual(caller.map { "\($0.caller)" }, "\(Caller.approver(.transport))")
    }

    /// A request signature's nonce is admitted once until it expires, then may be admitted again.
    func testANonceIsAdmittedOnceUntilItExpires() async throws {
        let h = try await Harness(store: Self.storeKind)
        let store = h.workflow.store, now = h.clock.now(), kid = h.firmKey.publicKey.kidHex
        let v1 = try await store.admitNonce("bm9uY2UtMQ", kid: kid, expires: now.addingTimeInterval(300), now: now)
        XCTAssertTrue(v1)
        let replay = try await store.admitNonce("bm9uY2UtMQ", kid: kid, expires: now.addingTimeInterval(310), now: now.addingTimeInterval(10))
        XCTAssertFalse(replay)
        let other = try await store.admitNonce("bm9uY2UtMg", kid: kid, expires: now.addingTimeInterval(310), now: now.addingTimeInterval(10))
        XCTAssertTrue(other)
        let expired = try await store.admitNonce("bm9uY2UtMQ", kid: kid, expires: now.addingTimeInterval(1000), now: now.addingTimeInterval(301))
        XCTAssertTrue(expired, "an expired nonce is forgotten")
        let replayAgain = try await store.admitNonce("bm9uY2UtMQ", kid: kid, expires: now.addingTimeInterval(1000), now: now.addingTimeInterval(400))
        XCTAssertFalse(replayAgain, "its new expiry holds")
    }

    func testARepeatedReferenceCreatesNoDuplicate() async throws {
        let h = try await Harness(store: Self.storeKind)
        let first = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)
        let second = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)
        XCTAssertEqual(first[0].id, second[0].id)
        XCTAssertEqual(second[0].duplicate, true)
        XCTAssertEqual(try h.counts().applications, 1)
    }

    func testDryRunWritesNothing() async throws {
        let h = try await Harness(store: Self.storeKind)
        let before = try h.counts()
        var bad = h.variant(5)
        bad.crew[0].idNumber = "330106198001011234"
        let r = try await h.workflow.apply([h.item(h.application), h.item(bad, index: 1)], key: h.firmKey, dryRun: true)
        XCTAssertEqual(r[0].state, "valid")
        XCTAssertEqual(r[0].departments, ["HEALTH"])
        XCTAssertEqual(r[1].errors?.first?.field, "crew[0].idNumber")
        let after = try h.counts()
        XCTAssertEqual(after.applications, before.applications)
        XCTAssertEqual(after.audit, before.audit)
    }

    func testSerialExhaustionIssuesNothing() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v101 = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v101)
        try h.tamper("UPDATE serial SET last = 999999")
        let r = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)
        XCTAssertTrue(r[0].errors?.first?.message.contains("999999") ?? false, "\(r)")
        let c = try h.counts()
        XCTAssertEqual(c.permits, 0)
        XCTAssertEqual(c.decisions, 0, "the approval rolls back with the failed issuance")
        let v100 = try await h.workflow.resolve(id).state
        XCTAssertEqual(v100, .pending)
    }

    func testOverdueFollowsTheInjectedClock() async throws {
        let h = try await Harness(store: Self.storeKind)
        _ = try await h.workflow.apply([h.item(h.application)], key: h.firmKey)
        let v99 = try await h.workflow.queue(department: .health, overdue: true).count
        XCTAssertEqual(v99, 0)
        h.clock.advance(by: Double(Department.health.reviewDeadlineHours) * 3600 + 1)
        let v98 = try await h.workflow.queue(department: .health, overdue: true).count
        XCTAssertEqual(v98, 1)
    }

    func testTooManyConditionsAcrossDepartmentsAreRefused() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v97 = try await h.workflow.apply([h.item(h.variant(6, categories: ["medical-supplies", "mail-and-parcels"]))], key: h.firmKey)[0].id
        let id = try XCTUnwrap(v97)
        _ = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve, conditions: ["限夜间通行", "须冷链运输"])
        let r = try await h.workflow.decide(department: .postal, key: h.approvers[.postal]!, identifiers: [id], decision: .approve, conditions: ["不得进入主城区"])
        XCTAssertEqual(r[0].errors?.first?.code, "approve.conditions")
        XCTAssertEqual(try h.counts().permits, 0)
    }
}

import PermitVerify

class RotationTests: StoreTestCase {
    /// After a rotation, permits signed by the old key still verify through the re-published
    /// trust list; new permits are signed by the new key; the old key signing after its notAfter
    /// is refused as keyNotValidAtIssuance.
    func testRotationKeepsOldPermitsValidAndRetiresTheKey() async throws {
        let h = try await Harness(store: Self.storeKind)
        let v96 = try await h.workflow.apply([h.item(h.variant(40))], key: h.firmKey)[0].id
        let first = try XCTUnwrap(v96)
        let v95 = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [first], decision: .approve)[0].permitNumber
        let oldNumber = try XCTUnwrap(v95)
        let oldKey = try PrivateKey.load(path: h.dir.issuerKey.path)
        h.clock.advance(by: 3600)
        let rotation = try await h.workflow.rotateIssuerKey(algorithm: .es256, adminKey: h.admin, rootKey: try PrivateKey.load(path: h.dir.rootKey.path))
        XCTAssertEqual(rotation.retiredKid, oldKey.publicKey.kidHex)
        await XCTAssertThrowsErrorAsync(try await h.workflow.rotateIssuerKey(algorithm: .edDSA, adminKey: PrivateKey.generate(.edDSA), rootKey: try PrivateKey.load(path: h.dir.rootKey.path)))
        let mode = try FileManager.default.attributesOfItem(atPath: h.dir.retiredKeys.appendingPathComponent("\(rotation.retiredKid).pem").path)[.posixPermissions] as! Int
        XCTAssertEqual(mode & 0o777, 0o600)

        let v94 = try await h.workflow.apply([h.item(h.variant(41))], key: h.firmKey)[0].id
        let second = try XCTUnwrap(v94)
        let v93 = try await h.workflow.decide(department: .health, key: h.approvers[.health]!, identifiers: [second], decision: .approve)[0].permitNumber
        let newNumber = try XCTUnwrap(v93)
        let root = try PublicKey.load(path: h.dir.rootPublicKey.path)
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: h.dir.trustList)), root: root)
        XCTAssertEqual(trust.keys.count, 2)
        let during = FixedClock(RFC3339.date("2026-12-05T12:00:00+08:00")!)
        let verifier = Verifier(trust: trust, clock: during)
        for number in [oldNumber, newNumber] {
            let result = await verifier.verify(try h.workflow.history(number).permit!.payload)
            XCTAssertEqual(result.outcome, .valid, "\(number): \(result.detail ?? "")")
        }
        let newPayload = try await PermitText.decode(try h.workflow.history(newNumber).permit!.payload)
        XCTAssertEqual(newPayload.cose.kid.map { Hex.encode($0) }, rotation.newKid)
        // The retired key signing after its rotation is refused.
        var claims = try PermitClaims(decoding: newPayload.cose.payload)
        claims.issuedAt = UInt64(h.clock.now().timeIntervalSince1970) + 60
        let forged = try PermitSealer(key: oldKey).seal(claims)
        XCTAssertEqual(verifier.verify(forged.text).reason?.rawValue, "keyNotValidAtIssuance")
    }

    /// Two instances (two workflows, as two server processes would be) on one store and one
    /// data directory: once one rotates the issuer key, the other seals with the new key at its
    /// next issuance, though it had loaded the old one; an instance whose copy of the key file
    /// still holds the retired key refuses to seal instead of using it.
    func testARotationIsSeenByASecondInstance() async throws {
        let h = try await Harness(store: Self.storeKind)
        let other = try await Workflow(directory: h.dir, clock: h.clock, database: h.database)
        let oldKey = try PrivateKey.load(path: h.dir.issuerKey.path)
        func issue(_ w: Workflow, _ n: Int) async throws -> (number: String, kid: String) {
            let applied = try await w.apply([h.item(h.variant(n))], key: h.firmKey)
            let id = try XCTUnwrap(applied[0].id)
            let decided = try await w.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)
            let number = try XCTUnwrap(decided[0].permitNumber)
            let payload = try await PermitText.decode(try await w.history(number).permit!.payload)
            return (number, payload.cose.kid.map { Hex.encode($0) } ?? "")
        }
        // The second instance seals once, with the key of the day (and keeps its sealer).
        let before = try await issue(other, 50)
        XCTAssertEqual(before.kid, oldKey.publicKey.kidHex)
        h.clock.advance(by: 3600)
        let rotation = try await h.workflow.rotateIssuerKey(algorithm: .es256, adminKey: h.admin, rootKey: try PrivateKey.load(path: h.dir.rootKey.path))
        let afterOther = try await issue(other, 51)
        XCTAssertEqual(afterOther.kid, rotation.newKid, "the second instance went on with the retired key")
        let afterFirst = try await issue(h.workflow, 52)
        XCTAssertEqual(afterFirst.kid, rotation.newKid)
        // A revocation list and an audit checkpoint are signed with the current key too.
        let checkpoint = try await other.auditCheckpoint()
        XCTAssertEqual(try COSESign1.decode(checkpoint.1).kid.map { Hex.encode($0) }, rotation.newKid)

        // A third instance whose copy of the data directory was not updated: its key file holds
        // the retired key, while the database publishes the new one. It refuses, and issues nothing.
        let stale = FileManager.default.temporaryDirectory.appendingPathComponent("permit-stale-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stale) }
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        for name in ["root.pub.pem", "trust-list.cose"] {
            try FileManager.default.copyItem(at: h.dir.file(name), to: stale.appendingPathComponent(name))
        }
        try oldKey.save(path: DataDirectory(url: stale).issuerKey.path)
        let copy = h.storeKind == .sqlite
            ? try await Workflow(directory: DataDirectory(url: stale), clock: h.clock, store: try SQLitePermitStore(path: h.dir.database.path))
            : try await Workflow(directory: DataDirectory(url: stale), clock: h.clock, database: h.database)
        let staleApplied = try await copy.apply([h.item(h.variant(53))], key: h.firmKey)
        let id = try XCTUnwrap(staleApplied[0].id)
        let permitsBefore = try h.counts().permits
        let refused = try await copy.decide(department: .health, key: h.approvers[.health]!, identifiers: [id], decision: .approve)
        XCTAssertEqual(refused[0].errors?.first?.code, "keys.issuerStale", "\(refused[0])")
        XCTAssertNil(refused[0].permitNumber)
        XCTAssertEqual(try h.counts().permits, permitsBefore)
    }
}
