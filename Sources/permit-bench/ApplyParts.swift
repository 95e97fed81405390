import Foundation
import PermitFoundation
import PermitModel
import PermitRouting
import PermitSeal

/// `permit-bench apply-parts`: the cost of each step of one application, for profiling.
func runApplyPartsBench() throws {
    let app = try JSONDecoder().decode(Application.self, from: Data(contentsOf: URL(fileURLWithPath: "Tests/Fixtures/typical-permit-application.json")))
    let line = try JSONEncoder().encode(app)
    let validator = ApplicationValidator(divisions: .bundled, maxValidityDays: 30, now: RFC3339.date("2026-11-30T09:00:00+08:00")!)
    let routing = try RoutingTable.bundled()
    let key = PrivateKey.generate(.edDSA)
    func show(_ name: String, _ body: (Int) -> Void) { print(String(format: "  %-22@ %8.1f µs", name as NSString, 1e6 / Rate.measure(seconds: 0.2, rounds: 3, body))) }
    show("parse JSON line") { _ in _ = ApplicationFile.parse(line, format: .jsonl) }
    show("normalized") { _ in _ = app.normalized() }
    show("validate") { _ in _ = validator.validate(app) }
    show("route") { _ in _ = routing.route(app) }
    show("canonicalJSON") { _ in _ = app.canonicalJSON() }
    show("decode Application") { _ in _ = try! JSONDecoder().decode(Application.self, from: line) }
    show("routing JSON") { _ in _ = try! JSONEncoder().encode(routing.route(app)) }
    show("sign") { _ in _ = key.sign(Array(line.prefix(200))) }
    let doc = IssuedPermit(application: app, number: "330114000001", approvedBy: ["HEALTH"], conditions: [], issuedAt: SystemClock().now())
    show("claims()") { _ in _ = try! doc.claims() }
    show("permit doc JSON") { _ in _ = try! JSONEncoder().encode(doc) }
}
