import XCTest

/// XCTest's throwing assertions take synchronous autoclosures; the workflow is async.
func XCTAssertThrowsErrorAsync<T>(_ expression: @autoclosure () async throws -> T, _ message: @autoclosure () -> String = "",
                                  file: StaticString = #filePath, line: UInt = #line, _ handler: (Error) -> Void = { _ in }) async {
    do {
        _ = try await expression()
        XCTFail("expected an error" + (message().isEmpty ? "" : ": " + message()), file: file, line: line)
    } catch {
        handler(error)
    }
}

func XCTAssertNoThrowAsync<T>(_ expression: @autoclosure () async throws -> T, _ message: @autoclosure () -> String = "",
                              file: StaticString = #filePath, line: UInt = #line) async {
    do {
        _ = try await expression()
    } catch {
        XCTFail("unexpected error \(error)" + (message().isEmpty ? "" : ": " + message()), file: file, line: line)
    }
}
