import Foundation
import PermitAPI
import PermitFoundation
import PermitModel
import XCTest
import PermitTestSupport
@testable import PermitSeal
@testable import PermitVerify
@testable import PermitWorkflow

/// Two authorities in one deployment (one data directory, and on PostgreSQL one database): each
/// keeps its own applications, serials, blacklist and keys, and one trust list signed by the
/// deployment's root lists both issuers. Runs on SQLite here and on PostgreSQL in
/// `DeploymentTestsOnPostgres`.
class DeploymentTests: StoreTestCase {
    /// A deployment of 330114 (made by init, at the top) and 330106 (added), each with one
    /// approver per department and the same firm registered with the same key.
    final class TwoAuthorities {
        let h: Harness
        let deployment: Deployment
        let added: AuthorityAddResult
        var first: Workflow { deployment.workflows[0] }
        var second: Workflow { deployment.workflows[1] }
        let secondAdmin: PrivateKey
        var secondApprovers: [Department: PrivateKey] = [:]

        init(store: StoreKind) async throws {
            h = try await Harness(store: store)
            added = try await Deployment.addAuthority(directory: h.dir, authority: "330106", name: "杭州市西湖区交通运输局", nameEn: "Xihu Transport Bureau",
                                                      phone: "0571-87000000", maxDays: 30, clock: h.clock, database: h.database)
            deployment = try await Deployment.open(directory: h.dir, clock: h.clock, database: h.database)
            secondAdmin = try PrivateKey.load(path: added.adminKey)
            let second = deployment.workflows[1]
            for d in Department.allCases {
                let k = PrivateKey.generate(.edDSA)
                _ = try await second.register(.approver, party: d.rawValue, name: "\(d.nameZh)审批员", publicKey: k.publicKey, adminKey: secondAdmin)
                secondApprovers[d] = k
            }
            _ = try await second.register(.applicant, party: h.application.applicant.creditCode, name: h.application.applicant.name,
                                          publicKey: h.firmKey.publicKey, adminKey: secondAdmin)
        }

        /// Applies `app` with the firm's key and approves it in every routed department: the permit number.
        func issue(_ w: Workflow, _ app: Application, approvers: [Department: PrivateKey]) async throws -> String {
            let applied = try await w.apply([h.item(app)], key: h.firmKey)
            let id = try XCTUnwrap(applied[0].id, "\(applied[0].errors ?? [])")
            var number: String?
            for r in try await w.history(id).required {
                let d = try XCTUnwrap(Department(rawValue: r.department))
                number = try await w.decide(department: d, key: approvers[d]!, identifiers: [id], decision: .approve)[0].permitNumber ?? number
            }
            return try XCTUnwrap(number)
        }
    }

    func testTheAddedAuthorityHasItsOwnDirectoryKeysAndStore() async throws {
        let t = try await TwoAuthorities(store: Self.storeKind)
        XCTAssertEqual(t.deployment.codes, ["330114", "330106"])
        XCTAssertEqual(t.added.dataDirectory, t.h.dir.addedAuthority("330106").url.path)
        XCTAssertEqual(t.added.adminKey, t.h.dir.url.appendingPathComponent("authorities/330106/admin-key.pem").path)
        XCTAssertEqual(t.added.rootKey, t.h.dir.rootKey.path)
        XCTAssertEqual(t.added.trustList, t.h.dir.trustList.path)
        for key in [t.added.issuerKey, t.added.adminKey] {
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as! Int
            XCTAssertEqual(mode & 0o777, 0o600, key)
        }
        XCTAssertNotEqual(try PrivateKey.load(path: t.added.adminKey).publicKey.kidHex, t.h.admin.publicKey.kidHex)
        XCTAssertEqual(t.second.directory.rootKey, t.h.dir.rootKey, "the root key stays at the deployment's top")
        if Self.storeKind == .sqlite {
            XCTAssertTrue(FileManager.default.fileExists(atPath: t.h.dir.addedAuthority("330106").database.path))
        } else {
            XCTAssertTrue(t.added.database.contains("schema a330106"), t.added.database)
        }
        // Adding it again, or an invalid code, is refused and changes nothing.
        await XCTAssertThrowsErrorAsync(try await Deployment.addAuthority(directory: t.h.dir, authority: "330106", name: "x", nameEn: nil,
                                                                          phone: "0571-87000000", maxDays: 30, clock: t.h.clock, database: t.h.database)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.code, "authority.exists")
        }
        await XCTAssertThrowsErrorAsync(try await Deployment.addAuthority(directory: t.h.dir, authority: "330114", name: "x", nameEn: nil,
                                                                          phone: "0571-87000000", maxDays: 30, clock: t.h.clock, database: t.h.database)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.code, "authority.exists")
        }
        await XCTAssertThrowsErrorAsync(try await Deployment.addAuthority(directory: t.h.dir, authority: "999999", name: "x", nameEn: nil,
                                                                          phone: "0571-87000000", maxDays: 30, clock: t.h.clock, database: t.h.database)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.code, "init.authority")
        }
        let reopened = try await Deployment.open(directory: t.h.dir, clock: t.h.clock, database: t.h.database)
        XCTAssertEqual(reopened.codes, ["330114", "330106"])
    }

    func testAnAuthorityMustBeNamedWhenThereAreTwo() async throws {
        let t = try await TwoAuthorities(store: Self.storeKind)
        XCTAssertThrowsError(try t.deployment.workflow(authority: nil)) { error in
            let p = (error as? ProblemConvertible)?.problems.first
            XCTAssertEqual(p?.code, "authority.choose")
            XCTAssertTrue(p?.message.contains("330114") == true && p?.message.contains("330106") == true, p?.message ?? "")
        }
        XCTAssertThrowsError(try t.deployment.workflow(authority: "110101")) { error in
            XCTAssertEqual((error as? ProblemConvertible)?.problems.first?.code, "authority.unknown")
        }
        // Opening one authority alone picks the same way.
        await XCTAssertThrowsErrorAsync(try await Deployment.openAuthority(directory: t.h.dir, clock: t.h.clock, database: t.h.database, authority: nil)) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.code, "authority.choose")
        }
        await XCTAssertThrowsErrorAsync(try await Deployment.openAuthority(directory: t.h.dir, clock: t.h.clock, database: t.h.database, authority: "110101")) {
            XCTAssertEqual(($0 as? ProblemConvertible)?.problems.first?.code, "authority.unknown")
        }
        let alone = try await Deployment.openAuthority(directory: t.h.dir, clock: t.h.clock, database: t.h.database, authority: "330106")
        XCTAssertEqual(alone.authority.code, "330106")
        XCTAssertEqual(alone.directory.url.path, t.h.dir.addedAuthority("330106").url.path)
        XCTAssertEqual(try t.deployment.workflow(authority: "330106").authority.code, "330106")
        XCTAssertEqual(try t.deployment.workflow(authority: "330114").authority.code, "330114")
        // A deployment of one needs no code.
        let single = try await Harness(store: Self.storeKind)
        let one = try await Deployment.open(directory: single.dir, clock: single.clock, database: single.database)
        XCTAssertEqual(try one.workflow(authority: nil).authority.code, "330114")
        let listed = try await one.list()
        XCTAssertEqual(listed.map(\.code), ["330114"])
    }

    /// The same firm, the same reference, two authorities: two applications, two permits, each
    /// authority's serials from 1; both permits verify against the one trust list, signed by the root.
    func testTheSameReferenceWithTwoAuthoritiesGivesTwoApplicationsAndTwoSerialSeries() async throws {
        let t = try await TwoAuthorities(store: Self.storeKind)
        let app = t.h.variant(1)
        let a = try await t.issue(t.first, app, approvers: t.h.approvers)
        let b = try await t.issue(t.second, app, approvers: t.secondApprovers)
        XCTAssertEqual(a, "330114000001")
        XCTAssertEqual(b, "330106000001")
        let firstApps = try await t.first.applications(ApplicationQuery(limit: 10)).items
        let secondApps = try await t.second.applications(ApplicationQuery(limit: 10)).items
        XCTAssertEqual(firstApps.map(\.reference), [app.reference])
        XCTAssertEqual(secondApps.map(\.reference), [app.reference])
        // The same reference again is the existing application, in each authority.
        let again = try await t.second.apply([t.h.item(app)], key: t.h.firmKey)
        XCTAssertEqual(again[0].duplicate, true)
        let secondAgain = try await t.second.applications(ApplicationQuery(limit: 10)).items
        XCTAssertEqual(secondAgain.count, 1)
        // Each authority's next serial is its own.
        let b2 = try await t.issue(t.second, t.h.variant(2), approvers: t.secondApprovers)
        let a2 = try await t.issue(t.first, t.h.variant(3), approvers: t.h.approvers)
        XCTAssertEqual(b2, "330106000002")
        XCTAssertEqual(a2, "330114000002")

        let root = try PublicKey.load(path: t.h.dir.rootPublicKey.path)
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: t.h.dir.trustList)), root: root)
        let firstIssuer = try PrivateKey.load(path: t.h.dir.issuerKey.path).publicKey.kidHex
        let secondIssuer = try PrivateKey.load(path: t.added.issuerKey).publicKey.kidHex
        XCTAssertEqual(Set(trust.keys.map(\.key.kidHex)), [firstIssuer, secondIssuer])
        XCTAssertEqual(trust.keys.first { $0.key.kidHex == secondIssuer }?.authority, "330106")
        XCTAssertEqual(trust.keys.first { $0.key.kidHex == firstIssuer }?.authority, "330114")
        let verifier = Verifier(trust: trust, clock: FixedClock(RFC3339.date("2026-12-05T12:00:00+08:00")!))
        for (w, number) in [(t.first, a), (t.second, b)] {
            let payload = try await w.history(number).permit!.payload
            let result = await verifier.verify(payload)
            XCTAssertEqual(result.outcome, .valid, "\(number): \(result.detail ?? "")")
        }
        // `permit trust export` from either authority signs the same keys.
        let exported = try await t.second.signTrustList(root: try PrivateKey.load(path: t.h.dir.rootKey.path))
        XCTAssertEqual(Set(exported.document.keys.map(\.kid)), [firstIssuer, secondIssuer])
    }

    /// A blacklist entry of one authority refuses nothing at the other; the firm's key of one
    /// authority is unknown to the other's checks.
    func testABlacklistIsPerAuthority() async throws {
        let t = try await TwoAuthorities(store: Self.storeKind)
        var app = t.h.variant(7)
        _ = try await t.first.blacklistAdd(kind: .plate, value: app.vehicle.plate, reason: "超载运输", until: nil, revokeActive: false, adminKey: t.h.admin)
        let refused = try await t.first.apply([t.h.item(app)], key: t.h.firmKey)
        XCTAssertEqual(refused[0].errors?.first?.code, "blacklist.plate")
        let accepted = try await t.second.apply([t.h.item(app)], key: t.h.firmKey)
        XCTAssertNil(accepted[0].errors, "\(accepted[0].errors ?? [])")
        XCTAssertNotNil(accepted[0].id)
        let secondBlacklist = try await t.second.blacklist(includeRemoved: true)
        XCTAssertEqual(secondBlacklist.count, 0)
        // One authority's admin key is no admin key at the other.
        app.reference = "QT-OTHER-ADMIN"
        await XCTAssertThrowsErrorAsync(try await t.second.blacklistAdd(kind: .plate, value: "浙A99999", reason: "x", until: nil, revokeActive: false,
                                                                        adminKey: t.h.admin))
        let stillEmpty = try await t.second.blacklist(includeRemoved: true)
        XCTAssertEqual(stillEmpty.count, 0)
    }

    /// Rotating one authority's issuer key re-signs the deployment's list with every authority's keys.
    func testRotatingOneAuthorityKeepsTheOthersKeysInTheTrustList() async throws {
        let t = try await TwoAuthorities(store: Self.storeKind)
        let rotation = try await t.second.rotateIssuerKey(algorithm: .es256, adminKey: t.secondAdmin, rootKey: try PrivateKey.load(path: t.h.dir.rootKey.path))
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: t.h.dir.trustList)), root: try PublicKey.load(path: t.h.dir.rootPublicKey.path))
        let firstIssuer = try PrivateKey.load(path: t.h.dir.issuerKey.path).publicKey.kidHex
        XCTAssertEqual(Set(trust.keys.map(\.key.kidHex)), [firstIssuer, rotation.retiredKid, rotation.newKid])
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.h.dir.addedAuthority("330106").retiredKeys.appendingPathComponent("\(rotation.retiredKid).pem").path))
        let number = try await t.issue(t.second, t.h.variant(9), approvers: t.secondApprovers)
        XCTAssertEqual(number, "330106000001")
        let text = try await t.second.history("330106000001").permit!.payload
        let payload = try await PermitText.decode(text)
        XCTAssertEqual(payload.cose.kid.map { Hex.encode($0) }, rotation.newKid)
    }
}

final class DeploymentTestsOnPostgres: DeploymentTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}

/// A data directory made by an earlier build (schema v3, one authority, no `authorities/`) is a
/// deployment of one as it is: it opens without --authority, keeps verifying, and takes a second
/// authority without anything of the first being moved.
final class LegacyDeploymentTests: XCTestCase {
    func testALegacyDataDirectoryIsADeploymentOfOneAndTakesASecondAuthority() async throws {
        let source = fixtures.appendingPathComponent("legacy-v3")
        let dir = DataDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("permit-legacy-multi-\(UUID().uuidString)"))
        try FileManager.default.createDirectory(at: dir.url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir.url) }
        for name in ["permit.sqlite", "issuer-key.pem", "admin-key.pem", "root-key.pem", "root.pub.pem", "trust-list.cose"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.file(name))
            if name.hasSuffix("key.pem") { try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.file(name).path) }
        }
        let clock = FixedClock(RFC3339.date("2026-11-30T10:00:00+08:00")!)
        let one = try await Deployment.open(directory: dir, clock: clock, database: nil)
        let code = try one.workflow(authority: nil).authority.code
        XCTAssertEqual(one.codes, [code])
        let firstIssuer = try PrivateKey.load(path: dir.issuerKey.path).publicKey.kidHex

        let added = try await Deployment.addAuthority(directory: dir, authority: "330106", name: "杭州市西湖区交通运输局", nameEn: nil,
                                                      phone: "0571-87000000", maxDays: 30, clock: clock)
        let two = try await Deployment.open(directory: dir, clock: clock, database: nil)
        XCTAssertEqual(two.codes, [code, "330106"])
        XCTAssertEqual(try two.workflow(authority: code).directory.url.path, dir.url.path, "the first authority's files stay where they were")
        let trust = try TrustStore(verifying: Array(try Data(contentsOf: dir.trustList)), root: try PublicKey.load(path: dir.rootPublicKey.path))
        XCTAssertEqual(Set(trust.keys.map(\.key.kidHex)), [firstIssuer, try PrivateKey.load(path: added.issuerKey).publicKey.kidHex])
        let audit = try await two.workflow(authority: code).verifyAudit()
        XCTAssertEqual(audit.findings, [], "\(audit.findings)")
        let addedAudit = try await two.workflow(authority: "330106").verifyAudit()
        XCTAssertEqual(addedAudit.findings, [], "\(addedAudit.findings)")
    }
}
