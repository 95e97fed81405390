import Foundation
import Hummingbird
import NIOCore
import PermitAPI
import PermitModel
import PermitRender
import PermitSeal
import PermitVerify

/// The checkpoint's verification on the server's copy of the lists: the data directory's trust
/// list against its root, and its revocation list when there is one, as `permit verify` reads
/// them from a data directory. The lists are read and verified per request, so a list published
/// while the server runs is used at once.
struct Checkpoint: Sendable {
    let files: PublishedFiles
    let clock: any PermitClock

    func verifier() throws -> Verifier {
        guard let trustBytes = files.trustList() else {
            throw HTTPProblem(.serviceUnavailable, code: "verify.noTrustList", detail: "the server has no trust list to check permits with",
                              rule: "a signed trust list is required to check permits")
        }
        let root: PublicKey
        do {
            root = try files.rootKey()
        } catch {
            throw HTTPProblem(.serviceUnavailable, code: "verify.rootUnreadable", detail: "\(error)",
                              rule: "the root is a PEM/DER public key")
        }
        let trust: TrustStore
        do {
            trust = try TrustStore(verifying: trustBytes, root: root)
        } catch {
            throw HTTPProblem(.serviceUnavailable, code: "verify.trustList.\(error.code.rawValue)",
                              detail: "the server's trust list is not usable: \(error.detail)",
                              rule: "the trust list must be signed by the pinned root \(root.kidHex)")
        }
        var revocations: [RevocationSet] = []
        if let bytes = files.revocations() {
            do {
                revocations.append(try RevocationSet(verifying: bytes, trust: trust, root: root))
            } catch {
                throw HTTPProblem(.serviceUnavailable, code: "verify.revocations.\(error.code.rawValue)",
                                  detail: "the server's revocation list is not usable: \(error.detail)",
                                  rule: "a revocation list must be signed by a key of its authority in the trust list, or by the root")
            }
        }
        return Verifier(trust: trust, revocations: revocations, clock: clock)
    }
}

/// `POST /v1/verify`: FP1 texts (`text/plain`, one per line) or a photo (`image/png`,
/// `image/jpeg`) in, the verdict objects of `permit verify --json` out, as one JSON array.
struct VerifyRoutes: Sendable {
    let checkpoint: Checkpoint
    let maxBodyBytes: Int

    static let imageTypes: Set<String> = ["image/png", "image/jpeg"]

    func register(on router: Router<PermitServer.Context>) {
        router.get("v1/verify") { request, _ -> Response in
            throw HTTPProblem(.methodNotAllowed, code: "http.methodNotAllowed", detail: "\(request.method.rawValue) is not allowed on /v1/verify",
                              rule: "POST the texts or the image", headers: [.allow: "POST"])
        }
        router.post("v1/verify") { request, _ -> Response in
            let type = request.headers[.contentType]?.mediaType ?? ""
            guard type == "text/plain" || Self.imageTypes.contains(type) else {
                throw HTTPProblem(.unsupportedMediaType, code: "verify.mediaType",
                                  detail: type.isEmpty ? "the request has no Content-Type" : "\(type) is not a type this resource reads",
                                  field: "Content-Type", value: request.headers[.contentType],
                                  rule: "text/plain (FP1 texts, one per line), image/png or image/jpeg",
                                  headers: [.accept: "text/plain, image/png, image/jpeg"])
            }
            let body = try await Self.collect(request, limit: maxBodyBytes)
            guard !body.isEmpty else {
                throw HTTPProblem(.badRequest, code: "verify.emptyBody", detail: "the request body is empty", field: "body",
                                  rule: "at least one FP1 text or an image")
            }
            let inputs: [VerificationInput]
            if type == "text/plain" {
                inputs = Self.lines(body).map { .payload($0) }
            } else {
                inputs = Self.scan(body)
            }
            let verifier = try checkpoint.verifier()
            let verdicts = inputs.enumerated().map { Verdict(index: $0.offset, result: verifier.verify($0.element)) }
            return try JSONBody.response(verdicts, encoder: Verdict.encoder())
        }
    }

    /// The body, refused with 413 past `limit` (by its Content-Length before reading, else while reading).
    static func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        let tooLarge = HTTPProblem(.contentTooLarge, code: "request.tooLarge", detail: "the request body is larger than \(limit) bytes",
                                   field: "body", value: request.headers[.contentLength], rule: "at most \(limit) bytes")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        do {
            var buffer = try await request.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch {
            throw BodyReader.failure(error, request)
        }
    }

    /// Lines split on LF, one CR before it stripped, nothing else trimmed (Base45 holds the
    /// space), as `permit verify --file` reads them; a final newline ends the last line.
    static func lines(_ bytes: [UInt8]) -> [String] { WireRequest.lines(bytes) }

    /// Every QR code zbar reads in the photo, as `permit verify --image` scans a file.
    static func scan(_ bytes: [UInt8]) -> [VerificationInput] {
        let name = "the uploaded image"
        do {
            let codes = try QRScanner.scan(imageData: Data(bytes), name: name)
            if codes.isEmpty { return [.unreadable("no QR code could be read in \(name)")] }
            return codes.map { .payload($0) }
        } catch {
            return [.unreadable("\(name): \(error)")]
        }
    }
}
