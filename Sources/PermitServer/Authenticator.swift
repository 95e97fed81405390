import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import PermitAPI
import PermitHTTPSignature
import PermitModel
import PermitSeal

/// RFC 9421 request authentication (service.md), as a middleware on every route that is not
/// public: the body is read against the size limit, the `permit` signature is verified against
/// the registered key its `keyid` names, the nonce is remembered in the store (so that every
/// instance refuses a replay), and the key's token bucket is charged. Every refusal is 401 (429
/// for an empty bucket) with problem+json, before any route runs: nothing is written.
struct Authenticator<Context: RequestContext & CallerCarrying>: RouterMiddleware {
    let authorities: HostedAuthorities
    let clock: any PermitClock
    let scheme: String
    let maxBodyBytes: Int
    let buckets: TokenBuckets

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The authority in the path: its registered keys and its nonces. A key of another
        // authority of the deployment is unknown here (401).
        let hosted = try await authorities.find(context.parameters.get("code") ?? "")
        let gate = hosted.service
        var request = request
        let body = try await BodyReader.collect(&request, limit: maxBodyBytes)
        let message = RequestMessage(method: request.method.rawValue, targetURI: targetURI(of: request),
                                     headerFields: request.headers.map { ($0.name.canonicalName, $0.value) }, body: body)
        let now = clock.now()
        let verified: VerifiedRequest
        var found: RegisteredCaller?
        var lookupFailure: (any Error)?
        do {
            verified = try await RequestSignature.verify(message, now: Int64(now.timeIntervalSince1970.rounded(.down))) { kid in
                do {
                    found = try await gate.caller(kid: kid)
                } catch {
                    lookupFailure = error
                }
                return found?.key
            }
        } catch {
            // The registered keys could not be read (the database is down or restarting): that
            // is the store's refusal (503, worth a retry), not a key the server does not know.
            if let lookupFailure { throw Self.storeProblem(lookupFailure) }
            var problem = HTTPProblem(.unauthorized, error.problems[0])
            problem.headers[.wwwAuthenticate] = "Signature realm=\"freight-permit\""
            throw problem
        }
        guard let caller = found else {
            throw HTTPProblem(.unauthorized, code: "auth.unknownKey", detail: "no registered key has the keyid \(verified.keyID)",
                              field: "Signature-Input;keyid", value: verified.keyID, rule: "the kid of a registered, not removed key")
        }
        if let wait = buckets.take(caller.kid) {
            throw HTTPProblem(.tooManyRequests, code: "request.rate",
                              detail: "key \(caller.kid) sent more requests than its allowance; retry in \(wait) s",
                              field: "Signature-Input;keyid", value: caller.kid,
                              rule: "at most \(buckets.capacity) requests at once, \(buckets.refillPerSecond) a second after that",
                              headers: [.retryAfter: String(wait)])
        }
        guard try await gate.admitNonce(verified.nonce, kid: caller.kid, expires: Date(timeIntervalSince1970: TimeInterval(verified.expires))) else {
            throw HTTPProblem(.unauthorized, code: "auth.replayed", detail: "the nonce \(verified.nonce) was already used; nothing was written",
                              field: "Signature-Input;nonce", value: verified.nonce, rule: "a fresh nonce for every request",
                              headers: [.wwwAuthenticate: "Signature realm=\"freight-permit\""])
        }
        var context = context
        context.caller = caller
        context.authority = hosted
        return try await AuthenticatedRequest.$signer.withValue(caller.record) { try await next(request, context) }
    }

    /// A failure to read the registered keys, as the store's own problem (`store.io`,
    /// `store.busy`: 503) when it has one, else `store.io`.
    static func storeProblem(_ error: any Error) -> HTTPProblem {
        if let known = error as? any ProblemConvertible, !known.problems.isEmpty {
            return HTTPProblem(service: known.problems)
        }
        return HTTPProblem(.serviceUnavailable, code: "store.io", detail: "the registered keys could not be read; nothing was written")
    }

    /// The URI the client signed: scheme, the Host it sent, the path and query as sent.
    func targetURI(of request: Request) -> String {
        RequestMessage.targetURI(scheme: scheme, authority: request.head.authority, requestTarget: request.uri.description)
    }
}

/// A context that carries the verified signer of a request.
protocol CallerCarrying {
    var caller: RegisteredCaller? { get set }
    /// The authority the path names, set with the caller.
    var authority: HostedAuthority? { get set }
}

extension PermitRequestContext: CallerCarrying {}

/// Reads a request body into memory, refusing one over the limit with 413 (by its
/// Content-Length before reading, else while reading).
enum BodyReader {
    static func tooLarge(_ request: Request, limit: Int) -> HTTPProblem {
        HTTPProblem(.contentTooLarge, code: "request.tooLarge", detail: "the request body is larger than \(limit) bytes",
                    field: "body", value: request.headers[.contentLength], rule: "at most \(limit) bytes")
    }

    /// The body's bytes; `request` keeps them, so a route can read them again.
    static func collect(_ request: inout Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge(request, limit: limit) }
        do {
            var buffer = try await request.collectBody(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw tooLarge(request, limit: limit)
        } catch {
            throw failure(error, request)
        }
    }

    /// Why reading a body failed, as the answer: a limit of the connection (Limits.swift: 408 or
    /// 413) as it is, bytes the HTTP/1 decoder cannot read 400 `request.malformed`, else a body
    /// that ended early.
    static func failure(_ error: any Error, _ request: Request) -> HTTPProblem {
        if let problem = error as? HTTPProblem { return problem }
        if let error = error as? HTTPParserError {
            return HTTPProblem(.badRequest, code: "request.malformed", detail: "the request body cannot be read: \(error)",
                               field: "body", rule: "an HTTP/1.1 body (RFC 9112: Content-Length bytes, or well-formed chunks)")
        }
        return incomplete(request)
    }

    /// A body that ended before its declared length (the client closed, or the connection broke).
    static func incomplete(_ request: Request) -> HTTPProblem {
        HTTPProblem(.badRequest, code: "request.incomplete", detail: "the request body ended before its declared length",
                    field: "body", value: request.headers[.contentLength], rule: "a body of exactly Content-Length bytes")
    }
}

/// One token bucket per key (per instance, as service.md allows): `capacity` requests at once,
/// refilled at `refillPerSecond`. A request finding the bucket empty is told when to retry.
final class TokenBuckets: @unchecked Sendable {
    let capacity: Double
    let refillPerSecond: Double
    /// Refilled by the monotonic clock, never the workflow's: a fixed PERMIT_NOW (or a clock set
    /// back) would otherwise leave an emptied bucket empty for good.
    private var buckets: [String: (tokens: Double, at: ContinuousClock.Instant)] = [:]
    private let lock = NSLock()

    init(capacity: Int, refillPerSecond: Double) {
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
    }

    /// Takes one token from `key`'s bucket: nil when there was one, else the whole seconds to wait.
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        var bucket = buckets[key] ?? (capacity, now)
        let span = bucket.at.duration(to: now).components
        let elapsed = max(0, Double(span.seconds) + Double(span.attoseconds) / 1e18)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * refillPerSecond)
        bucket.at = now
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            buckets[key] = bucket
            return nil
        }
        buckets[key] = bucket
        return max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))
    }
}
