// libFuzzer entry point over what the server reads from a request before a route calls the
// service: the RFC 9421 signature (Signature-Input and Signature as RFC 8941 Dictionaries, the
// RFC 9530 Content-Digest, the whole verification against two registered keys), the JSON of every
// Wire.* body a route decodes (with WireJSON's depth limit), the signed documents inside them and
// the COSE bodies, the query parameters, paging cursors, the department in the path and the lines
// of a text/plain body. The property is that nothing crashes, hangs or trips AddressSanitizer,
// that a request verifies only within the contract's limits, and that whatever we sign verifies.
//
// One input is one request, written as HTTP/1 with LF line ends (so that seeds and crashes read
// as requests):
//
//     METHOD SP REQUEST-TARGET LF         e.g. POST /v1/authorities/330114/applications?limit=5
//     NAME ":" OWS VALUE LF               any number of header lines; one starting with SP or HTAB
//                                         continues the one before (obs-fold, kept in the value)
//     LF                                  the empty line
//     BODY                                the rest, as sent
//
// The target URI is rebuilt as the server rebuilds it: https://, the Host header, the request target.
import Foundation
import PermitAPI
import PermitFoundation
import PermitHTTPSignature
import PermitModel
import PermitSeal
import RawStructuredFieldValues

/// The registered keys, from fixed seeds so that inputs reproduce: one Ed25519, one P-256.
private let ed25519 = try! PrivateKey(ed25519Seed: [UInt8](repeating: 11, count: 32))
private let p256 = try! PrivateKey(p256Scalar: [UInt8](repeating: 13, count: 32))
private let registered: [String: PublicKey] = [ed25519.publicKey.kidHex: ed25519.publicKey, p256.publicKey.kidHex: p256.publicKey]
/// The verifier's clock, Unix seconds; the seeds are signed 10 s before it.
private let now: Int64 = 1_765_209_600
private let scheme = "https"

/// A request as the server's RequestMessage sees it, with the request target kept apart for the query.
struct FuzzRequest {
    var method: String
    var requestTarget: String
    var headers: [(String, String)]
    var body: [UInt8]

    init(method: String, requestTarget: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        self.requestTarget = requestTarget
        self.headers = headers
        self.body = body
    }

    /// Splits an input as the header comment says; every input is some request.
    init(_ bytes: [UInt8]) {
        let lf = UInt8(ascii: "\n")
        var headEnd = bytes.count, bodyStart = bytes.count
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == lf && bytes[i + 1] == lf { headEnd = i; bodyStart = i + 2; break }
            i += 1
        }
        let lines = bytes[0..<headEnd].split(separator: lf, omittingEmptySubsequences: false)
        let first = lines.first ?? []
        if let space = first.firstIndex(of: UInt8(ascii: " ")) {
            method = String(decoding: first[first.startIndex..<space], as: UTF8.self)
            requestTarget = String(decoding: first[(space + 1)...], as: UTF8.self)
        } else {
            method = String(decoding: first, as: UTF8.self)
            requestTarget = ""
        }
        headers = []
        for line in lines.dropFirst() {
            if let b = line.first, b == 0x20 || b == 0x09, !headers.isEmpty {
                headers[headers.count - 1].1 += "\n" + String(decoding: line, as: UTF8.self)
                continue
            }
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let value = line[(colon + 1)...].drop(while: { $0 == 0x20 || $0 == 0x09 })
                headers.append((String(decoding: line[line.startIndex..<colon], as: UTF8.self), String(decoding: value, as: UTF8.self)))
            } else {
                headers.append((String(decoding: line, as: UTF8.self), ""))
            }
        }
        body = Array(bytes[bodyStart...])
    }

    /// The input that splits back into this request (for seeds).
    var bytes: [UInt8] {
        var text = "\(method) \(requestTarget)\n"
        for (name, value) in headers { text += "\(name): \(value)\n" }
        return Array((text + "\n").utf8) + body
    }

    var host: String? { headers.first { $0.0.lowercased() == "host" }?.1 }

    var message: RequestMessage {
        RequestMessage(method: method, targetURI: RequestMessage.targetURI(scheme: scheme, authority: host, requestTarget: requestTarget),
                       headerFields: headers, body: body)
    }

    /// The query's name=value pairs, percent-decoded (as the router hands them to a route).
    var query: [String: String] {
        guard let q = requestTarget.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in requestTarget[requestTarget.index(after: q)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            if out[name] == nil { out[name] = value }
        }
        return out
    }

    /// The path's segments, without the query.
    var pathSegments: [Substring] {
        (requestTarget.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").split(separator: "/")
    }
}

// MARK: the checks

/// The signature: verified against the registered keys at `now`, each refusal a stable code.
private func checkSignature(_ message: RequestMessage) {
    // The RFC 8941 fields on their own, and their serialisation back.
    for name in ["Signature-Input", "Signature", "Content-Digest"] {
        guard let value = message.fieldValue(name) else { continue }
        var parser = StructuredFieldValueParser(Array(value.utf8))
        if let dictionary = try? parser.parseDictionaryFieldValue() {
            var serializer = StructuredFieldValueSerializer()
            _ = try? serializer.writeDictionaryFieldValue(dictionary)
        }
    }
    if message.hasBody {
        _ = try? ContentDigest.check(message.fieldValue("Content-Digest"), body: message.body)
    }
    do {
        let verified = try RequestSignature.verify(message, now: now) { registered[$0] }
        // Only within the contract: a registered key, its algorithm, the time window, a long nonce.
        guard registered[verified.keyID] == verified.key, SignatureAlgorithm(verified.key.algorithm) == verified.algorithm,
              verified.created <= now + RequestSignature.maximumClockSkew, now <= verified.expires,
              verified.expires > verified.created, verified.expires - verified.created <= RequestSignature.maximumLifetime,
              verified.nonceBytes.count >= RequestSignature.minimumNonceBytes else {
            fatalError("a signature verified outside the contract: \(verified)")
        }
    } catch {
        if error.problems.isEmpty || error.problems[0].code != error.code.rawValue { fatalError("a refusal without its problem: \(error)") }
    }
}

/// Whatever request we can sign verifies, and the digest we write matches the body.
private func checkRoundTrip(_ message: RequestMessage, selector: Int) {
    do {
        try ContentDigest.check(ContentDigest.fieldValue(for: message.body), body: message.body)
    } catch {
        fatalError("our own Content-Digest does not match the body: \(error)")
    }
    var signed = message
    let key = selector % 2 == 0 ? ed25519 : p256
    let nonce = (0..<16).map { UInt8(truncatingIfNeeded: selector &+ $0) }
    do {
        try RequestSignature.sign(&signed, with: key, created: now - 10, nonce: nonce)
    } catch {
        return  // a request that cannot be signed (no Content-Type with a body, a control character, no authority)
    }
    do {
        _ = try RequestSignature.verify(signed, now: now) { registered[$0] }
    } catch {
        fatalError("a request we signed does not verify: \(error)\n\(signed)")
    }
}

/// The JSON bodies, as each route decodes its own, and the signed documents inside them.
private func checkBodies(_ body: [UInt8], contentType: String?) {
    _ = WireRequest.mediaType(contentType)
    if let apply = try? WireRequest.decodeJSON(Wire.ApplyRequest.self, from: body) {
        for item in apply.items {
            guard let s = item.submission else { continue }
            _ = try? COSESign1.decode(Array(s)).kid.map { Hex.encode($0) }
            _ = try? SignedSubmission(decoding: Array(s))
        }
    }
    _ = try? WireRequest.decodeJSON(Wire.Identifiers.self, from: body)
    if let decide = try? WireRequest.decodeJSON(Wire.DecideRequest.self, from: body) {
        for item in decide.items {
            guard let d = item.decision else { continue }
            _ = try? COSESign1.decode(Array(d)).kid.map { Hex.encode($0) }
            _ = try? DecisionSignature(decoding: Array(d))
        }
    }
    if let amend = try? WireRequest.decodeJSON(Wire.AmendRequest.self, from: body) {
        _ = try? SignedSubmission(decoding: Array(amend.submission))
    }
    _ = try? WireRequest.decodeJSON(Wire.AuditRequest.self, from: body)
    // application/cose bodies: the administrative actions and the cancellation.
    _ = try? COSESign1.decode(body).kid.map { Hex.encode($0) }
    _ = try? SignedAction.decode(body)
    // text/plain on POST /v1/verify.
    _ = WireRequest.lines(body)
}

/// The query parameters and the path's department, as the routes read them.
private func checkQuery(_ request: FuzzRequest) {
    let query = request.query
    _ = try? WireRequest.limit(query["limit"])
    if let after = query["after"], let id = try? PageCursor.rowID(after) {
        guard (try? PageCursor.rowID(PageCursor.make(after: id))) == id else { fatalError("the cursor of row \(id) does not read back") }
    }
    do { let _: LifecycleState? = try WireRequest.enumParameter("state", query["state"]) } catch {}
    do { let _: PartyKeyRecord.Kind? = try WireRequest.enumParameter("kind", query["kind"]) } catch {}
    _ = try? WireRequest.dayParameter("since", query["since"])
    _ = try? WireRequest.intParameter("validForDays", query["validForDays"])
    _ = try? WireRequest.intParameter("above", query["above"])
    _ = WireRequest.flag(query["overdue"])
    _ = WireRequest.flag(query["removed"])
    let segments = request.pathSegments
    if let i = segments.firstIndex(of: "departments"), i + 1 < segments.count {
        _ = try? WireRequest.department(String(segments[i + 1]).removingPercentEncoding)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data!, count: size))
    let request = FuzzRequest(bytes)
    let message = request.message
    checkSignature(message)
    checkRoundTrip(message, selector: size)
    checkBodies(request.body, contentType: message.fieldValue("Content-Type"))
    checkQuery(request)
    return 0
}

// MARK: seeds

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    // The keys are made here, before the first input, so that their one-time allocations are not
    // taken for a leak of that input.
    precondition(registered.count == 2)
    // With PERMIT_FUZZ_SEEDS=DIR, write signed requests there; PERMIT_FUZZ_FIXTURES=Tests/Fixtures
    // adds the RFC 9421 B.2.6 request and the test application.
    if let dir = ProcessInfo.processInfo.environment["PERMIT_FUZZ_SEEDS"] {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (n, seed) in seeds(fixtures: ProcessInfo.processInfo.environment["PERMIT_FUZZ_FIXTURES"]).enumerated() {
            try? Data(seed).write(to: URL(fileURLWithPath: "\(dir)/http-\(n)"))
        }
    }
    return 0
}

/// Requests as our client sends them, signed by the registered keys 10 s before `now`.
private func seeds(fixtures: String?) -> [[UInt8]] {
    let host = "permits.example"
    let base = "/v1/authorities/330114/"
    let at = Date(timeIntervalSince1970: TimeInterval(now - 10))
    func signed(_ method: String, _ target: String, json: Data? = nil, cose: [UInt8]? = nil, key: PrivateKey = ed25519) -> [UInt8] {
        var request = FuzzRequest(method: method, requestTarget: target, headers: [("Host", host)], body: [])
        if let json { request.headers.append(("Content-Type", "application/json")); request.body = Array(json) }
        if let cose { request.headers.append(("Content-Type", "application/cose")); request.body = cose }
        var message = request.message
        try! RequestSignature.sign(&message, with: key, created: now - 10, nonce: [UInt8](repeating: 0x5A, count: 16))
        request.headers = message.headerFields.map { ($0.name, $0.value) }
        // A seed must get past the signature once written out and split again, or the fuzzer
        // would start from refusals only.
        do {
            _ = try RequestSignature.verify(FuzzRequest(request.bytes).message, now: now) { registered[$0] }
        } catch {
            fatalError("the seed \(method) \(target) does not verify: \(error)")
        }
        return request.bytes
    }
    var out: [[UInt8]] = []
    // GETs with every query parameter a route reads.
    out.append(signed("GET", base + "caller"))
    out.append(signed("GET", base + "applications?limit=5&after=\(PageCursor.make(after: 42))&state=\(LifecycleState.allCases[0].rawValue)&plate=%E6%B5%99A12345&creditCode=91330114MA24WY722X", key: p256))
    out.append(signed("GET", base + "departments/HEALTH/queue?overdue=true&limit=1000"))
    out.append(signed("GET", base + "permits?since=2026-12-01"))
    out.append(signed("GET", base + "parties?kind=approver&removed=1", key: p256))
    out.append(signed("GET", base + "audit/events?subject=A-1&limit=50&after=cjE"))
    out.append(signed("POST", base + "revocation-lists?validForDays=7&above=3"))
    // JSON bodies.
    let encoder = WireJSON.encoder()
    out.append(signed("POST", base + "decision-targets", json: try! encoder.encode(Wire.Identifiers(identifiers: ["A-2026-000001", "330114000001"]))))
    let decision = DecisionSignature.sign(digest: [UInt8](repeating: 3, count: 32), department: .health, approve: true, conditions: ["夜间通行"],
                                          reason: nil, at: at, key: ed25519, nonce: [UInt8](repeating: 1, count: 16))
    out.append(signed("POST", base + "departments/health/decisions",
                      json: try! encoder.encode(Wire.DecideRequest(items: [DecisionItem(index: 0, input: "A-2026-000001", decision: Data(decision))]))))
    out.append(signed("POST", base + "audit/verification", json: try! encoder.encode(Wire.AuditRequest(checkpoints: [Data(decision)]))))
    // COSE bodies: an administrative action.
    let action = SignedAction.sign(.revoke, SignedAction.Params(reason: "test"), authority: "330114", at: at, key: ed25519,
                                   nonce: [UInt8](repeating: 2, count: 16))
    out.append(signed("POST", base + "revocations", cose: action))
    // From the fixtures: the test application, applied and amended; the RFC 9421 request.
    if let fixtures {
        if let data = FileManager.default.contents(atPath: "\(fixtures)/typical-permit-application.json"),
           let item = ApplicationFile.parse(data, format: .json).first, let application = item.application {
            let items = SubmissionItem.signed([item], key: ed25519, at: at)
            out.append(signed("POST", base + "applications", json: try! encoder.encode(Wire.ApplyRequest(items: items, dryRun: true))))
            let submission = SignedSubmission.sign(application, amends: "330114000001", at: at, key: ed25519, nonce: [UInt8](repeating: 4, count: 16))
            out.append(signed("POST", base + "permits/330114000001/amendments",
                              json: try! encoder.encode(Wire.AmendRequest(application: application, submission: Data(submission)))))
        }
        if let data = FileManager.default.contents(atPath: "\(fixtures)/vectors/rfc9421/b26.json"),
           let vector = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let request = vector["request"] as? [String: Any], let headers = request["headers"] as? [[String]],
           let body = request["body"] as? String, let input = vector["signatureInput"] as? String, let signature = vector["signature"] as? String {
            // As the RFC signed it (refused by our profile, past the parsers), and as our client signs it.
            var rfc = FuzzRequest(method: "POST", requestTarget: "/foo?param=Value&Pet=dog", headers: headers.map { ($0[0], $0[1]) }, body: Array(body.utf8))
            rfc.headers += [("Signature-Input", input), ("Signature", signature)]
            out.append(rfc.bytes)
            var message = rfc.message
            try! RequestSignature.sign(&message, with: ed25519, created: now - 10, nonce: [UInt8](repeating: 0x33, count: 16))
            rfc.headers = message.headerFields.map { ($0.name, $0.value) }
            out.append(rfc.bytes)
        }
    }
    return out
}
