import Foundation
import Hummingbird
import NIOCore
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
    let gate: any RequestGate
    let clock: any PermitClock
    let scheme: String
    let maxBodyBytes: Int
    let buckets: TokenBuckets

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let body = try await BodyReader.collect(&request, limit: maxBodyBytes)
        let message = RequestMessage(method: request.method.rawValue, targetURI: targetURI(of: request),
                                     headerFields: request.headers.map { ($0.name.canonicalName, $0.value) }, body: body)
        let now = clock.now()
        let verified: VerifiedRequest
        var found: RegisteredCaller?
        // A store that cannot be read is its own problem (503 store.busy, 507, …), not an unknown
        // key: a 401 would tell the client its key is not registered.
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
            if let lookupFailure { throw lookupFailure }
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
        return try await next(request, context)
    }

    /// The URI the client signed: scheme, the Host it sent, the path and query as sent.
    func targetURI(of request: Request) -> String {
        let host = request.head.authority ?? ""
        return "\(scheme)://\(host)\(request.uri.description)"
    }
}

/// A context that carries the verified signer of a request.
protocol CallerCarrying {
    var caller: RegisteredCaller? { get set }
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
        } catch let problem as HTTPProblem {
            throw problem  // a limit of the connection (Limits.swift): 408 or 413
        } catch {
            throw incomplete(request)
        }
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
