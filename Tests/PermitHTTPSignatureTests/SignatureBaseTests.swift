import PermitHTTPSignature
import XCTest

/// RFC 9421 §2: component values and the base's shape, beyond what B.2.6 exercises.
final class SignatureBaseTests: XCTestCase {
    let params = SignatureParameters([.init("created", .integer(1))])

    func base(_ request: RequestMessage, _ components: [String]) throws -> [String] {
        try SignatureBase.make(for: request, covering: components, parameters: params).components(separatedBy: "\n")
    }

    func testFieldValuesAreTrimmedJoinedAndUnfolded() throws {
        let request = RequestMessage(method: "GET", targetURI: "https://a.example/", headerFields: [
            ("X-Multi", "  one \t"), ("Accept", "x"), ("x-multi", "two"), ("X-MULTI", ""),
            ("X-Folded", "first \r\n   second"), ("X-Empty", "   "),
        ])
        XCTAssertEqual(try base(request, ["X-Multi", "x-folded", "x-empty"]), [
            #""x-multi": one, two, "#,
            #""x-folded": first second"#,
            #""x-empty": "#,
            #""@signature-params": ("x-multi" "x-folded" "x-empty");created=1"#,
        ])
    }

    func testDerivedComponents() throws {
        let request = RequestMessage(method: "POST", targetURI: "HTTPS://Permits.Example.CN:443?a=1&b=%20")
        XCTAssertEqual(try base(request, ["@method", "@target-uri", "@authority", "@scheme", "@path", "@query"]).dropLast(), [
            #""@method": POST"#,
            #""@target-uri": HTTPS://Permits.Example.CN:443/?a=1&b=%20"#,
            #""@authority": permits.example.cn"#,
            #""@scheme": https"#,
            #""@path": /"#,
            #""@query": ?a=1&b=%20"#,
        ])
        let port = RequestMessage(method: "GET", targetURI: "http://[2001:db8::1]:8080/v1/x?")
        XCTAssertEqual(try base(port, ["@authority", "@path", "@query"]).dropLast(),
                       [#""@authority": [2001:db8::1]:8080"#, #""@path": /v1/x"#, #""@query": ?"#])
    }

    func testRefusals() {
        let request = RequestMessage(method: "GET", targetURI: "https://a.example/", headerFields: [("X-Bad", "a\u{1}b")])
        for (components, code) in [(["date"], HTTPSignatureError.Code.component), (["@status"], .component),
                                   (["x-bad"], .component), (["@method", "@method"], .components)] {
            XCTAssertThrowsError(try base(request, components)) { XCTAssertEqual(($0 as? HTTPSignatureError)?.code, code) }
        }
        for uri in ["/relative", "https://a.example/#fragment", "https:///nohost", "https://a.example:80x/"] {
            let bad = RequestMessage(method: "GET", targetURI: uri)
            XCTAssertThrowsError(try base(bad, ["@target-uri"]), uri)
            XCTAssertNoThrow(try base(bad, ["@method"]), "@method needs no URI")
        }
    }
}
