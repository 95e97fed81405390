/// An HTTP request as far as a signature sees it: method, target URI, header field lines in the
/// order received, and the body bytes as sent (before any content decoding).
///
/// A server fills it from the request it received (the target URI reconstructed as RFC 9110 §7.1
/// says: scheme, `Host`, path and query); a client from the request it is about to send.
public struct RequestMessage: Hashable, Sendable {
    /// One header field line.
    public struct HeaderField: Hashable, Sendable {
        /// The field name as sent; names compare without regard to case.
        public var name: String
        /// The field line's value as sent.
        public var value: String
        /// A field line.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The method, case-sensitive as sent (RFC 9110 §9.1), e.g. `POST`.
    public var method: String
    /// The absolute target URI, e.g. `https://permits.example/v1/authorities/330114/applications?limit=50`.
    public var targetURI: String
    /// The header field lines in order; the same name may appear on several lines.
    public var headerFields: [HeaderField]
    /// The body as sent; empty when there is none.
    public var body: [UInt8]

    /// A request from its parts; `headerFields` are (name, value) lines in order.
    public init(method: String, targetURI: String, headerFields: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.targetURI = targetURI
        self.headerFields = headerFields.map { HeaderField(name: $0.0, value: $0.1) }
        self.body = body
    }

    /// The target URI as a server reconstructs it (RFC 9110 §7.1): the scheme it serves, the
    /// authority the client sent (`Host`), and the request target as sent (path and query).
    public static func targetURI(scheme: String, authority: String?, requestTarget: String) -> String {
        "\(scheme)://\(authority ?? "")\(requestTarget)"
    }

    /// Whether the request has a body for the contract's purposes: at least one byte.
    public var hasBody: Bool { !body.isEmpty }

    /// The field's value as RFC 9421 §2.1 canonicalises it: the lines with this name (any case)
    /// in order, each with obsolete line folding replaced by one space and leading and trailing
    /// spaces and tabs removed, joined with ", ". Nil when no line has the name.
    public func fieldValue(_ name: String) -> String? {
        let lines = headerFields.filter { RequestMessage.sameName($0.name, name) }
        guard !lines.isEmpty else { return nil }
        return lines.map { RequestMessage.canonicalLine($0.value) }.joined(separator: ", ")
    }

    /// Replaces every line named `name` (any case) by one line with `value`, at the end.
    public mutating func setField(_ name: String, _ value: String) {
        removeField(name)
        headerFields.append(HeaderField(name: name, value: value))
    }

    /// Removes every line named `name` (any case).
    public mutating func removeField(_ name: String) {
        headerFields.removeAll { RequestMessage.sameName($0.name, name) }
    }

    /// Field names are ASCII tokens and compare without regard to ASCII case; this runs on every
    /// lookup, where `lowercased()`'s Unicode tables cost more than the rest.
    static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8) { x, y in
            x == y || (x | 0x20 == y | 0x20 && (0x61...0x7A).contains(x | 0x20))
        }
    }

    /// RFC 9112 §5.2's obs-fold (OWS CRLF RWS) becomes one space; then OWS is trimmed at both ends.
    static func canonicalLine(_ value: String) -> String {
        var bytes = Array(value.utf8)
        if bytes.contains(0x0D) || bytes.contains(0x0A) {
            var out: [UInt8] = []
            var i = 0
            while i < bytes.count {
                let isFold = (bytes[i] == 0x0D && i + 2 < bytes.count && bytes[i + 1] == 0x0A && isOWS(bytes[i + 2]))
                    || (bytes[i] == 0x0A && i + 1 < bytes.count && isOWS(bytes[i + 1]))
                if isFold {
                    while let last = out.last, isOWS(last) { out.removeLast() }
                    i += bytes[i] == 0x0D ? 2 : 1
                    while i < bytes.count, isOWS(bytes[i]) { i += 1 }
                    out.append(0x20)
                } else {
                    out.append(bytes[i])
                    i += 1
                }
            }
            bytes = out
        }
        var start = 0, end = bytes.count
        while start < end, isOWS(bytes[start]) { start += 1 }
        while end > start, isOWS(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    private static func isOWS(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
}

/// The parts of an absolute `http`/`https` target URI that the derived components need.
struct TargetURI: Sendable {
    let scheme: String
    let host: String
    let port: String?
    let path: String
    let query: String?

    /// Splits `scheme://[userinfo@]host[:port][/path][?query]`; a fragment or a relative URI is refused.
    init?(_ text: String) {
        let bytes = Array(text.utf8)
        // Printable ASCII without spaces or `#`: a target URI is already percent-encoded and has no fragment.
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else { return nil }
        func isAlpha(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
        func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0, isAlpha(bytes[0]),
              bytes[..<colon].allSatisfy({ isAlpha($0) || isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }),
              bytes.count >= colon + 3, bytes[colon + 1] == 0x2F, bytes[colon + 2] == 0x2F else { return nil }
        let authorityStart = colon + 3
        let authorityEnd = bytes[authorityStart...].firstIndex(where: { $0 == 0x2F || $0 == 0x3F }) ?? bytes.endIndex
        var hostStart = authorityStart
        if let at = bytes[authorityStart..<authorityEnd].lastIndex(of: UInt8(ascii: "@")) { hostStart = at + 1 }
        // A bracketed IPv6 literal holds colons of its own; only a colon after `]` starts the port.
        let portSearchStart = bytes[hostStart..<authorityEnd].lastIndex(of: UInt8(ascii: "]")) ?? hostStart
        var hostEnd = authorityEnd
        var port: String? = nil
        if let portColon = bytes[portSearchStart..<authorityEnd].lastIndex(of: UInt8(ascii: ":")) {
            guard bytes[(portColon + 1)..<authorityEnd].allSatisfy(isDigit) else { return nil }
            hostEnd = portColon
            port = String(decoding: bytes[(portColon + 1)..<authorityEnd], as: UTF8.self)
        }
        guard hostEnd > hostStart else { return nil }
        if let q = bytes[authorityEnd...].firstIndex(of: UInt8(ascii: "?")) {
            path = String(decoding: bytes[authorityEnd..<q], as: UTF8.self)
            query = String(decoding: bytes[(q + 1)...], as: UTF8.self)
        } else {
            path = String(decoding: bytes[authorityEnd...], as: UTF8.self)
            query = nil
        }
        scheme = String(decoding: bytes[..<colon], as: UTF8.self)
        host = String(decoding: bytes[hostStart..<hostEnd], as: UTF8.self)
        self.port = port
    }

    /// `@target-uri`: the URI as given, with an empty path written `/` (RFC 9110 §4.2.3).
    var targetURIValue: String {
        "\(scheme)://\(authorityAsGiven)\(pathValue)\(query.map { "?\($0)" } ?? "")"
    }

    /// `@authority` (RFC 9421 §2.2.3): host lowercased, the scheme's default port left out.
    var authorityValue: String {
        let defaultPort = ["http": "80", "https": "443"][scheme.lowercased()]
        let trimmedPort = port.map { String($0.drop(while: { $0 == "0" })) }
        if let port, !port.isEmpty, trimmedPort != defaultPort {
            return "\(host.lowercased()):\(port)"
        }
        return host.lowercased()
    }

    /// `@path` (RFC 9421 §2.2.6): the absolute path, `/` when empty.
    var pathValue: String { path.isEmpty ? "/" : path }

    private var authorityAsGiven: String { port.map { "\(host):\($0)" } ?? host }
}
