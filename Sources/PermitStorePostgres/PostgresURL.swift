import Foundation
import NIOSSL
import PermitAPI
import PermitModel
import PostgresNIO

/// Where a PostgreSQL store lives, read from `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or
/// `postgresql://`). postgres-nio takes a configuration, not a URL, so this is our own reader.
///
/// - A unix socket: leave the host out and name the socket's directory,
///   `postgres://USER@/DB?host=/run/postgresql` (the port names the socket file, as with libpq).
/// - `?sslmode=disable|prefer|require|verify-full` (default `prefer` over TCP). `require` and
///   `verify-full` both verify the server's certificate and name; a socket never uses TLS.
/// - The user name, password and database are percent-decoded.
///
/// Anything else (another scheme, a missing user or database, a bad port, an unknown parameter)
/// is refused with `database.url`, naming what is wrong. The password never appears in a message:
/// `redacted` is the URL to show.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file's path (`DIR/.s.PGSQL.PORT`).
        case socket(path: String)
    }

    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// The URL as given, with any password replaced by `***`: safe to print and log.
    public private(set) var redacted: String

    public var description: String { redacted }

    /// The rule every refusal names.
    static let rule = "postgres://USER[:PASSWORD]@HOST[:PORT]/DB, or postgres://USER@/DB?host=/SOCKET/DIR; ?sslmode=disable|prefer|require|verify-full"

    /// Whether `text` asks for PostgreSQL at all (the scheme), before it is read in detail.
    public static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    public init(url text: String) throws {
        let shown = Self.redact(text)
        func refuse(_ why: String) -> DatabaseURLError { DatabaseURLError(why, value: shown) }

        guard let schemeEnd = text.range(of: "://") else {
            throw refuse("--database \(shown) is not a URL: it has no scheme")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw refuse("--database \(shown): the scheme \(scheme) is not postgres:// (leave --database out for the data directory's SQLite file)")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query = Substring("")
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        if rest.contains("#") { throw refuse("--database \(shown): a fragment (#…) means nothing here") }
        guard let slash = rest.firstIndex(of: "/") else {
            throw refuse("--database \(shown) names no database: end it with /DB")
        }
        let authority = rest[..<slash]
        let path = rest[rest.index(after: slash)...]
        guard let database = Self.decode(path), !database.isEmpty, !database.contains("/") else {
            throw refuse("--database \(shown) names no database (or a malformed one) after the host: end it with /DB")
        }

        guard let at = authority.lastIndex(of: "@") else {
            throw refuse("--database \(shown) names no user: write postgres://USER@HOST/DB")
        }
        let userinfo = authority[..<at]
        let hostport = authority[authority.index(after: at)...]
        let userPart: Substring, passwordPart: Substring?
        if let colon = userinfo.firstIndex(of: ":") {
            userPart = userinfo[..<colon]
            passwordPart = userinfo[userinfo.index(after: colon)...]
        } else {
            userPart = userinfo
            passwordPart = nil
        }
        guard let user = Self.decode(userPart), !user.isEmpty else {
            throw refuse("--database \(shown) names no user (or a malformed one): write postgres://USER@HOST/DB")
        }
        var password: String?
        if let passwordPart {
            guard let p = Self.decode(passwordPart) else { throw refuse("--database \(shown): the password is not percent-encoded properly") }
            password = p
        }

        var host = ""
        var port: Int?
        if hostport.hasPrefix("[") {
            guard let close = hostport.firstIndex(of: "]") else { throw refuse("--database \(shown): an IPv6 host needs its closing ]") }
            host = String(hostport[hostport.index(after: hostport.startIndex)..<close])
            let after = hostport[hostport.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("--database \(shown): expected :PORT after the IPv6 host") }
                port = try Self.port(after.dropFirst(), refuse: refuse)
            }
        } else if let colon = hostport.lastIndex(of: ":") {
            host = String(hostport[..<colon])
            port = try Self.port(hostport[hostport.index(after: colon)...], refuse: refuse)
        } else {
            host = String(hostport)
        }

        var socketDirectory: String?
        var tls: TLSMode?
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).lowercased()
            guard parts.count == 2, let value = Self.decode(parts[1]) else {
                throw refuse("--database \(shown): the parameter \(parts[0]) has no value")
            }
            switch key {
            case "host":
                guard value.hasPrefix("/") else {
                    throw refuse("--database \(shown): ?host= takes a unix socket directory (an absolute path); put a network host before /DB")
                }
                socketDirectory = value
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw refuse("--database \(shown): sslmode=\(value) is not disable, prefer, require or verify-full")
                }
            default:
                throw refuse("--database \(shown): the parameter \(parts[0]) is not one this store reads (host, sslmode)")
            }
        }

        if let socketDirectory {
            guard host.isEmpty else {
                throw refuse("--database \(shown) names both a network host (\(host)) and a socket directory (?host=): give one")
            }
            endpoint = .socket(path: (socketDirectory.hasSuffix("/") ? socketDirectory : socketDirectory + "/") + ".s.PGSQL.\(port ?? 5432)")
            if tls == .require { throw refuse("--database \(shown): a unix socket does not use TLS; leave out sslmode=require") }
            self.tls = .disable
        } else {
            guard !host.isEmpty else {
                throw refuse("--database \(shown) names no host: write postgres://USER@HOST[:PORT]/DB, or ?host=/SOCKET/DIR for a unix socket")
            }
            endpoint = .tcp(host: host, port: port ?? 5432)
            self.tls = tls ?? .prefer
        }
        self.user = user
        self.password = password
        self.database = database
        redacted = shown
    }

    /// postgres-nio's client configuration for this location.
    public var configuration: PostgresClient.Configuration {
        switch endpoint {
        case .socket(let path):
            return PostgresClient.Configuration(unixSocketPath: path, username: user, password: password, database: database)
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
    }

    /// The same configuration for one connection made outside the pool (migrations, tests).
    var connectionConfiguration: PostgresConnection.Configuration {
        get throws {
            switch endpoint {
            case .socket(let path):
                return PostgresConnection.Configuration(unixSocketPath: path, username: user, password: password, database: database)
            case .tcp(let host, let port):
                let tls: PostgresConnection.Configuration.TLS
                switch self.tls {
                case .disable: tls = .disable
                case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
                return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
            }
        }
    }

    private static func port(_ text: Substring, refuse: (String) -> DatabaseURLError) throws -> Int {
        guard let n = Int(text), (1...65535).contains(n), text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw refuse("the port \(text) is not a number from 1 to 65535")
        }
        return n
    }

    private static func decode(_ text: Substring) -> String? {
        String(text).removingPercentEncoding
    }

    /// The URL with the password (between `USER:` and `@`) replaced by `***`.
    public static func redact(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        let afterScheme = text[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<authority.index(after: colon)]) + "***" + String(text[at...])
    }
}

/// A `--database` URL that cannot be used: `database.url`, naming what is wrong.
public struct DatabaseURLError: Error, Sendable, CustomStringConvertible, ProblemConvertible {
    public var message: String
    public var value: String
    init(_ message: String, value: String) {
        self.message = message
        self.value = value
    }
    public var description: String { message }
    public var problems: [Problem] {
        [Problem(code: "database.url", message: message, field: "database", value: value, rule: PostgresLocation.rule)]
    }
}
