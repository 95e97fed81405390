import ArgumentParser
import Foundation
import PermitClient
import PermitFoundation
import PermitModel
import PermitSeal
import PermitVerify

// `permit trust pull` and `permit revocations pull`: a checkpoint refreshes its copies of the
// deployment's signed lists over HTTP (PermitClient.ListPuller), and verifies them here with the
// same code `permit verify` uses, so a list it writes is one `permit verify` accepts.

/// `--server URL`, else `$PERMIT_SERVER`: the permit server's base URL.
struct PullServerOption: ParsableArguments {
    @Option(help: ArgumentHelp("The permit server's base URL, http:// or https:// (default: $PERMIT_SERVER).", valueName: "URL"))
    var server: String?

    /// The URL given, or PERMIT_SERVER; exit 2 when there is neither.
    func puller(json: Bool) throws -> ListPuller {
        let env = ProcessInfo.processInfo.environment["PERMIT_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
        guard let url = server ?? env else {
            throw CommandFailure("pull.noServer", "give --server URL, or set PERMIT_SERVER to the permit server's base URL", field: "server",
                                 rule: "the deployment's base URL, e.g. https://permits.example.gov.cn", json: json)
        }
        do { return try ListPuller(server: url) } catch { throw PullOutput.failure(error, json: json) }
    }
}

extension Trust {
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refresh the checkpoint's trust list from the permit server, verified against the pinned root.",
            discussion: """
            Fetches GET /v1/trust-list.cose with If-None-Match set to the ETag of FILE's bytes, so an \
            unchanged list costs a 304 and FILE is left untouched. A new list replaces FILE only if it \
            verifies against the pinned root and its sequence is not lower than FILE's; it is written \
            atomically and keeps FILE's permissions (0644 for a new file). Otherwise FILE stays as it was.
            The defaults are those of `permit verify`: DATA/root.pub.pem and DATA/trust-list.cose, DATA \
            being $PERMIT_HOME or ./permit-data.

            Exit codes: 0 FILE holds the server's list (written, or already current); 1 the server's \
            list was refused (it does not verify, or is older than FILE); 2 could not run (no server \
            URL, the server unreachable or answering an error, an unreadable root, FILE unwritable).

            Examples:
              permit trust pull --server https://permits.example.gov.cn --root national-root.pub.pem -o national.cose
              PERMIT_SERVER=http://10.1.2.3:8080 permit trust pull --root root.pub.pem -o trust-list.cose --json
              permit trust pull --server http://127.0.0.1:8080      # DATA/root.pub.pem, into DATA/trust-list.cose
              # from cron, every few minutes; an unchanged list costs one 304:
              #   */5 * * * *  PERMIT_HOME=/var/lib/permit permit trust pull --server https://permits.example.gov.cn
            """
        )

        @OptionGroup var server: PullServerOption

        @Option(help: ArgumentHelp("The pinned root public key the list must be signed by (default: DATA/root.pub.pem).", valueName: "ROOT.pub.pem"))
        var root: String?

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The trust list to refresh (default: DATA/trust-list.cose).", valueName: "FILE"))
        var outputFile: String?

        @OptionGroup var output: OutputOptions

        func run() async throws {
            let json = output.json
            let puller = try server.puller(json: json)
            let rootKey = try CheckpointSetup.pinnedRoot(root, json: json)
            let file = outputFile ?? CheckpointSetup.defaultPath("trust-list.cose")
            let result: PullResult
            do {
                result = try await puller.pull(.trustList, into: file) { bytes in
                    let list = try TrustList.verify(bytes, root: rootKey)
                    let store = try TrustStore(list: list)
                    return ListFacts(sequence: list.sequence, nextUpdate: list.nextUpdate, entries: store.keys.count)
                }
            } catch {
                throw PullOutput.failure(error, json: json)
            }
            PullOutput.report(result, authority: nil, output: output)
        }
    }
}

extension Revocations {
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refresh the checkpoint's copy of an authority's revocation list from the permit server.",
            discussion: """
            Fetches GET /v1/authorities/CODE/revocations.cose with If-None-Match set to the ETag of \
            FILE's bytes, so an unchanged list costs a 304 and FILE is left untouched. A new list \
            replaces FILE only if it is CODE's list, signed by a key of CODE in the trust list or by \
            the root (the trust list itself verified against the pinned root first), and its sequence \
            is not lower than FILE's; it is written atomically and keeps FILE's permissions. \
            Otherwise FILE stays as it was. --authority may be left out when the server hosts one \
            authority (GET /v1/authorities). Pull the trust list first: a list signed by a new issuer \
            key verifies only against a trust list that has the key.
            The defaults are those of `permit verify`: DATA/trust-list.cose, DATA/root.pub.pem and \
            DATA/revocations.cose, DATA being $PERMIT_HOME or ./permit-data. A checkpoint of several \
            authorities pulls each into its own file and gives each to `permit verify --revocations`.

            Exit codes: 0 FILE holds the server's list (written, or already current); 1 the server's \
            list was refused (it does not verify, is another authority's, or is older than FILE); 2 \
            could not run (no server URL, the server unreachable or answering an error, no usable \
            trust list or root, FILE unwritable or holding another authority's list).

            Examples:
              permit revocations pull --server https://permits.example.gov.cn --authority 330114 \\
                  --trust national.cose --root national-root.pub.pem -o 330114.revocations.cose
              permit revocations pull --server http://127.0.0.1:8080 --json     # the one hosted authority, into DATA/revocations.cose
              PERMIT_SERVER=http://10.1.2.3:8080 permit revocations pull --authority 320102 -o 320102.cose
            """
        )

        @OptionGroup var server: PullServerOption

        @Option(help: ArgumentHelp("The authority whose list to pull (6 digits; default: the only one the server hosts).", valueName: "CODE"))
        var authority: String?

        @Option(help: ArgumentHelp("The signed trust list that holds the authority's keys (default: DATA/trust-list.cose).", valueName: "FILE"))
        var trust: String?

        @Option(help: ArgumentHelp("The pinned root public key (default: DATA/root.pub.pem).", valueName: "ROOT.pub.pem"))
        var root: String?

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The revocation list to refresh (default: DATA/revocations.cose).", valueName: "FILE"))
        var outputFile: String?

        @OptionGroup var output: OutputOptions

        func validate() throws {
            if let authority, !(authority.utf8.count == 6 && authority.utf8.allSatisfy { (0x30...0x39).contains($0) }) {
                throw ValidationError("--authority \(authority) is not a 6-digit administrative-division code")
            }
        }

        func run() async throws {
            let json = output.json
            let puller = try server.puller(json: json)
            let (store, rootKey) = try CheckpointSetup.verifiedTrust(trust: trust, root: root, json: json)
            let file = outputFile ?? CheckpointSetup.defaultPath("revocations.cose")
            let result: PullResult
            let code: String
            do {
                if let authority { code = authority } else { code = try await puller.onlyAuthority() }
                result = try await puller.pull(.revocations(authority: code), into: file) { bytes in
                    let set = try RevocationSet(verifying: bytes, trust: store, root: rootKey)
                    return ListFacts(sequence: set.sequence ?? 0, nextUpdate: set.nextUpdate.map(RFC3339.string) ?? "",
                                     authority: set.authority, entries: set.hashes.count)
                }
            } catch {
                throw PullOutput.failure(error, json: json)
            }
            PullOutput.report(result, authority: code, output: output)
        }
    }
}

/// What both pulls print, and how their failures exit.
enum PullOutput {
    /// The `--json` summary.
    struct Summary: Encodable {
        var file: String
        var url: String
        /// `trust-list` or `revocations`.
        var list: String
        var authority: String?
        var sequence: Int
        var previousSequence: Int?
        /// Whether the file was written.
        var changed: Bool
        /// 200, or 304 when the file was already current.
        var status: Int
        /// The file's ETag, which the next pull sends.
        var etag: String
        var nextUpdate: String
        /// Issuer keys in a trust list.
        var keys: Int?
        /// Revoked permits in a revocation list.
        var entries: Int?
    }

    static func report(_ r: PullResult, authority: String?, output: OutputOptions) {
        let s = Summary(file: r.file, url: r.url, list: authority == nil ? "trust-list" : "revocations", authority: authority,
                        sequence: r.sequence, previousSequence: r.previousSequence, changed: r.changed, status: r.status, etag: r.etag,
                        nextUpdate: r.facts.nextUpdate, keys: authority == nil ? r.facts.entries : nil,
                        entries: authority == nil ? nil : r.facts.entries)
        if output.json { Console.out(JSONOutput.line(s)); return }
        let lang = output.language
        let name = authority.map { lang.pick("吊销列表（机关 \($0)）", "revocation list of \($0)") } ?? lang.pick("信任列表", "trust list")
        let count = authority == nil ? lang.pick("\(r.facts.entries) 把签发密钥", "\(r.facts.entries) issuer key(s)")
                                     : lang.pick("\(r.facts.entries) 条", "\(r.facts.entries) entr\(r.facts.entries == 1 ? "y" : "ies")")
        if r.changed {
            let was = r.previousSequence.map { lang.pick("（原 \($0)）", " (was \($0))") } ?? ""
            Console.out(lang.pick("\(name)已更新 \(s.file)：序号 \(s.sequence)\(was)，\(count)，下次更新 \(s.nextUpdate)",
                                  "\(name) written to \(s.file): sequence \(s.sequence)\(was), \(count), next update \(s.nextUpdate)"))
        } else {
            let how = r.status == 304 ? " (304)" : ""
            Console.out(lang.pick("\(name) \(s.file) 已是最新\(r.status == 304 ? "（304）" : "")：序号 \(s.sequence)，\(count)，下次更新 \(s.nextUpdate)",
                                  "\(name) \(s.file) is current\(how): sequence \(s.sequence), \(count), next update \(s.nextUpdate)"))
        }
    }

    /// A refused list exits 1; anything else that stopped the pull (the server unreachable or
    /// answering an error, a file that cannot be written) exits 2. The file is kept either way.
    static func failure(_ error: any Error, json: Bool) -> any Error {
        if let error = error as? PullError {
            return CommandFailure(problems: error.problems, exitCode: error.kind == .refused ? 1 : 2, json: json)
        }
        if var failure = error as? CommandFailure {
            failure.json = failure.json || json
            return failure
        }
        if let error = error as? ProblemConvertible {
            return CommandFailure(problems: error.problems, exitCode: 2, json: json)
        }
        return error
    }
}
