import Foundation
import PermitTestSupport
import XCTest

// The workflow, lifecycle, amendment, audit-chain and signed-request tests again, on PostgreSQL:
// each class below is its SQLite class with `storeKind` overridden, so the tests are the same
// source and every test added to those classes runs on both stores. SwiftPM's test discovery on
// Linux lists a subclass (with its inherited tests) only when it declares a test of its own:
// each declares the one that checks its store, which also fails at once when the cluster cannot start.

final class WorkflowTestsOnPostgres: WorkflowTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}

final class RotationTestsOnPostgres: RotationTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}

final class LifecycleTestsOnPostgres: LifecycleTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}

final class AmendTestsOnPostgres: AmendTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}

final class AuditChainTestsOnPostgres: AuditChainTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}

final class SignedRequestTestsOnPostgres: SignedRequestTests {
    override class var storeKind: StoreKind { .postgres }
    func testRunsOnPostgreSQL() throws { XCTAssertEqual(Self.storeKind, .postgres); XCTAssertNotNil(try TestPostgres.shared()) }
}
