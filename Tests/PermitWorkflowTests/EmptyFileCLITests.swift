import Foundation
import XCTest

extension CLITests {
    /// A file that holds no application is refused (exit 1) with `file.empty`, not passed as an
    /// empty batch; standard input is named `-`.
    func testEmptyApplicationFileIsRefused() throws {
        try setUpAuthority()
        let empty = try file("empty.jsonl", "\n\n")
        let run = try permit("apply", "--key", key("firmA.pem"), empty)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stdout.contains("\(empty) holds no applications"), run.stdout)

        let json = try permit("apply", "--key", key("firmA.pem"), "-", "--json", stdin: "")
        XCTAssertEqual(json.status, 1, json.stderr)
        let lines = try json.jsonLines()
        XCTAssertEqual(lines.count, 1)
        let error = try XCTUnwrap((lines.first?["errors"] as? [[String: Any]])?.first)
        XCTAssertEqual(error["code"] as? String, "file.empty")
        XCTAssertEqual(error["field"] as? String, "file")
        XCTAssertEqual(error["value"] as? String, "-")
        XCTAssertEqual(error["rule"] as? String, "at least one application")
        XCTAssertEqual(error["message"] as? String, "standard input holds no applications")

        let route = try permit("route", try file("empty.json", "[]"))
        XCTAssertEqual(route.status, 1, route.stderr)
        XCTAssertTrue(route.stdout.contains("holds no applications"), route.stdout)
    }
}
