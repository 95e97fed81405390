import Foundation
import PermitFoundation
import PermitModel
import PermitSeal

/// A checkpoint's copies of the deployment's signed lists, refreshed from its public routes
/// (`GET /v1/trust-list.cose`, `GET /v1/authorities/{code}/revocations.cose`; the service
/// document, "The CLI as a client").
///
/// What it promises, whatever the server sends:
/// - the file it is given is replaced only by a list that the caller's `verify` accepted (the
///   pinned root, and for a revocation list the trust list), whose sequence is not lower than the
///   file's, and whose bytes differ from it;
/// - an unchanged list costs one `304`: it sends `If-None-Match` with the file's ETag (the quoted
///   lowercase hex SHA-256 of its bytes, as the server computes it) and leaves the file untouched;
/// - the replacement is atomic (a temporary file in the same directory, synced, then renamed over
///   the old one) and keeps the old file's permission bits, or 0644 for a new file.
public struct ListPuller: Sendable {
    let transport: Transport

    /// The server's base URL: `http://127.0.0.1:8080`.
    public var server: String { transport.base }

    /// A puller for the permit server at `server`; a URL that is not one throws its `Problem`
    /// (`server.url`), as every `--server` verb does.
    public init(server: String, timeout: TimeInterval = 60) throws {
        transport = try Transport(server: server, timeout: timeout)
    }

    /// The path of a list on the server.
    public static func path(of list: PublishedList) -> String {
        switch list {
        case .trustList: return "/v1/trust-list.cose"
        case .revocations(let authority): return "/v1/authorities/\(Transport.pathSegment(authority))/revocations.cose"
        }
    }

    /// The code of the one authority the server hosts (`GET /v1/authorities`), for a verb whose
    /// `--authority` was left out; `authority.choose` when it hosts several.
    public func onlyAuthority() async throws -> String {
        try await HTTPPermitService.connect(server: server, authority: nil, signer: nil, timeout: transport.timeout).authorityCode
    }

    /// Refreshes the file at `path` with `list` from the server. `verify` checks the bytes (those fetched, or
    /// the file's own when the server answers 304) and describes them; what it throws refuses the
    /// list, and the file is kept. Throws `PullError`, or the transport's problems (unreachable,
    /// timed out, refused by the server) when there was no list to judge.
    public func pull(_ list: PublishedList, into path: String,
                     verify: ([UInt8]) throws -> ListFacts) async throws -> PullResult {
        let url = server + Self.path(of: list)
        let existing = FileManager.default.contents(atPath: path).map { Array($0) }
        let previous = existing.flatMap { list.unverifiedSequence($0) }
        if case .revocations(let authority) = list, let existing, let held = RevocationList.claimedAuthority(existing), held != authority {
            throw PullError(PullError.fileOfOtherAuthority,
                            "\(path) holds the revocation list of authority \(held), not \(authority): pull each authority's list into its own file",
                            field: "output", value: path, rule: "one revocation list per file", kind: .couldNotRun)
        }
        let etag = existing.map(Self.etag)
        var headers = [("Accept", "application/cose, application/problem+json")]
        if let etag { headers.append(("If-None-Match", etag)) }
        let answer = try await transport.send("GET", Self.path(of: list), headers: headers, signer: nil)

        func facts(_ bytes: [UInt8], _ what: String) throws(PullError) -> ListFacts {
            let facts: ListFacts
            do { facts = try verify(bytes) } catch {
                throw PullError(PullError.notVerified, "\(what) does not verify: \(error)", field: "server", value: url,
                                rule: list.verificationRule, kind: .refused)
            }
            if case .revocations(let authority) = list, facts.authority != authority {
                throw PullError(PullError.otherAuthority,
                                "\(what) is the revocation list of authority \(facts.authority ?? "?"), not \(authority)",
                                field: "server", value: url, rule: "the list of the authority asked for", kind: .refused)
            }
            return facts
        }

        switch answer.status {
        case 304:
            guard let existing, let etag else {
                throw PullError(PullError.notModified, "\(url) answered 304 Not Modified to a request without If-None-Match", field: "server",
                                value: url, rule: "200 with the list", kind: .couldNotRun)
            }
            let held = try facts(existing, "\(path), which the server says is current,")
            return PullResult(file: path, url: url, status: 304, changed: false, sequence: held.sequence, previousSequence: previous,
                              etag: etag, facts: held)
        case 200:
            let fetched = answer.body
            let new = try facts(fetched, "the list from \(url)")
            if let previous, new.sequence < previous {
                throw PullError(PullError.olderSequence,
                                "the list from \(url) has sequence \(new.sequence), older than the \(previous) of \(path): kept \(path) (a checkpoint never goes back to an older list; remove the file to start over)",
                                field: "sequence", value: String(new.sequence), rule: "a sequence not lower than \(previous)", kind: .refused)
            }
            let changed = fetched != existing
            if changed { try Self.replace(path, with: fetched) }
            return PullResult(file: path, url: url, status: 200, changed: changed, sequence: new.sequence,
                              previousSequence: previous, etag: Self.etag(fetched), facts: new)
        default:
            // The server's problem+json says why (a 404 names the unknown authority or the missing list).
            throw transport.refusal(answer)
        }
    }

    /// The ETag the server gives these bytes: the quoted lowercase hex SHA-256.
    public static func etag(_ bytes: [UInt8]) -> String { "\"" + Hashing.sha256Hex(bytes) + "\"" }

    // MARK: - The file

    /// Writes `bytes` to a temporary file beside `file`, syncs it, gives it the old file's mode
    /// (0644 for a new one) and renames it over `file`.
    static func replace(_ path: String, with bytes: [UInt8]) throws(PullError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        func failure(_ why: String) -> PullError {
            PullError(PullError.unwritable, "cannot write \(path): \(why)", field: "output", value: path,
                      rule: "a writable file in an existing directory", kind: .couldNotRun)
        }
        var mode: mode_t = 0o644
        var status = stat()
        if stat(path, &status) == 0 { mode = status.st_mode & 0o7777 }
        var template = Array(((directory.isEmpty ? "." : directory) + "/." + name + ".XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure(String(cString: strerror(errno))) }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ok = fchmod(fd, mode) == 0
        var written = 0
        while ok && written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { written += n }
        }
        ok = ok && fsync(fd) == 0
        let reason = ok ? "" : String(cString: strerror(errno))
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let why = ok ? String(cString: strerror(errno)) : reason
            unlink(temporary)
            throw failure(why)
        }
    }
}

/// A list a deployment publishes.
public enum PublishedList: Sendable, Hashable {
    /// `GET /v1/trust-list.cose`: every hosted authority's issuer keys, signed by the root.
    case trustList
    /// `GET /v1/authorities/{code}/revocations.cose`: one authority's revocation list.
    case revocations(authority: String)

    /// The sequence a file of this list claims, read without verifying it (nil when it does not
    /// read): a checkpoint never takes a list older than the one it holds.
    func unverifiedSequence(_ bytes: [UInt8]) -> Int? {
        guard let payload = (try? COSESign1.decode(bytes))?.payload else { return nil }
        switch self {
        case .trustList: return (try? JSONDecoder().decode(TrustList.self, from: Data(payload)))?.sequence
        case .revocations: return (try? JSONDecoder().decode(RevocationList.self, from: Data(payload)))?.sequence
        }
    }

    var verificationRule: String {
        switch self {
        case .trustList: return "a trust list signed by the pinned root"
        case .revocations: return "a revocation list signed by a key of its authority in the trust list, or by the root"
        }
    }
}

/// What the caller's verification found in a list.
public struct ListFacts: Sendable, Hashable {
    public var sequence: Int
    /// RFC 3339.
    public var nextUpdate: String
    /// A revocation list's authority; nil for a trust list.
    public var authority: String?
    /// Keys in a trust list, entries in a revocation list.
    public var entries: Int

    public init(sequence: Int, nextUpdate: String, authority: String? = nil, entries: Int) {
        self.sequence = sequence
        self.nextUpdate = nextUpdate
        self.authority = authority
        self.entries = entries
    }
}

/// What a pull did.
public struct PullResult: Sendable, Hashable {
    /// The file refreshed, as given.
    public var file: String
    /// The list's URL.
    public var url: String
    /// 200, or 304 when the file was already current.
    public var status: Int
    /// Whether the file was written (false on 304, and on a 200 with the same bytes).
    public var changed: Bool
    /// The sequence the file now holds.
    public var sequence: Int
    /// The sequence the file held before, if there was a readable file.
    public var previousSequence: Int?
    /// The file's ETag now (what the next pull sends in If-None-Match).
    public var etag: String
    /// The verified list's facts.
    public var facts: ListFacts
}

/// Why a pull did not replace the file. `kind` says whether the server's list was refused (the
/// CLI's exit 1) or the pull could not run (exit 2); either way the old file is kept.
public struct PullError: Error, Sendable, CustomStringConvertible, ProblemConvertible {
    public enum Kind: Sendable { case couldNotRun, refused }

    public static let fileOfOtherAuthority = "pull.fileOfOtherAuthority"
    public static let notVerified = "pull.notVerified"
    public static let otherAuthority = "pull.otherAuthority"
    public static let olderSequence = "pull.olderSequence"
    public static let notModified = "pull.notModified"
    public static let unwritable = "pull.unwritable"

    public var problem: Problem
    public var kind: Kind

    public init(_ code: String, _ message: String, field: String? = nil, value: String? = nil, rule: String? = nil, kind: Kind) {
        problem = Problem(code: code, message: message, field: field, value: value, rule: rule)
        self.kind = kind
    }

    public var code: String { problem.code }
    public var description: String { problem.message }
    public var problems: [Problem] { [problem] }
}
