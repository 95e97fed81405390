import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

// The limits that keep slow or abusive clients from costing the server anything (service.md,
// "Limits"): a deadline for a request's headers and one for its body (408), a cap on open
// connections (503), and the body size (413). They are enforced on each connection, between
// NIO's HTTP/1 codec and Hummingbird, because a route never sees a request whose headers are
// still arriving, and Hummingbird's idle timeout is reset by every part a client trickles in.

/// The HTTP parts between the codec and Hummingbird (NIOHTTPTypes' request and response parts,
/// named through Hummingbird's own connection handler).
typealias InboundPart = HTTPConnectionStateHandler.InboundIn
typealias OutboundPart = HTTPConnectionStateHandler.OutboundIn

/// The limits of one listener, in NIO's units.
struct ConnectionLimits: Sendable {
    /// From a request's first byte to the end of its headers; also how long a new connection may
    /// stay silent before it is closed.
    var headerTimeout: TimeAmount
    /// From the end of a request's headers to the end of its body.
    var bodyTimeout: TimeAmount
    /// How long a kept-alive connection may wait for its next request.
    var idleTimeout: TimeAmount
    var maxBodyBytes: Int
    /// After a refusal, how long the connection goes on reading (and dropping) what the client
    /// still sends before it is closed, so that the answer is not lost to a TCP reset: a body
    /// still being uploaded, headers still trickling in, a request sent over the cap.
    var bodyLinger: TimeAmount = .seconds(5)
    var headerLinger: TimeAmount = .seconds(2)
    var refusedLinger: TimeAmount = .seconds(1)

    static func seconds(_ value: Double) -> TimeAmount { .nanoseconds(Int64((value * 1e9).rounded())) }

    init(_ configuration: ServerConfiguration) {
        headerTimeout = Self.seconds(configuration.headerTimeout)
        bodyTimeout = Self.seconds(configuration.bodyTimeout)
        idleTimeout = Self.seconds(configuration.idleTimeout)
        maxBodyBytes = configuration.maxBodyBytes
    }
}

/// The open connections of one listener against its cap; connections open and close on every
/// event loop, so it takes a lock.
final class ConnectionCounter: @unchecked Sendable {
    let limit: Int
    private var open = 0
    private let lock = NSLock()

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection, unless the cap is reached.
    func tryOpen() -> Bool {
        lock.withLock {
            guard open < limit else { return false }
            open += 1
            return true
        }
    }

    func close() { lock.withLock { open -= 1 } }

    var current: Int { lock.withLock { open } }
}

/// The limits on one connection (one instance per connection, on its event loop).
///
/// - A connection over the listener's cap is answered 503 (`server.busy`) at once and closed.
/// - A new connection that sends nothing within the header deadline is closed without an answer;
///   so is a kept-alive one that sends nothing within the idle timeout.
/// - From the first byte of a request, its headers must be complete within the header deadline,
///   else 408 (`request.timeout`), written here since no route has the request yet.
/// - From the end of the headers, the body must be complete within the body deadline. If the
///   server has not begun to answer, the route reading the body gets a 408 problem, which it
///   answers as any refusal (logged and counted under its route); if it has, the connection is
///   closed.
/// - A body over the size limit: refused by its Content-Length (the `BodyLimit` middleware
///   answers 413 before any route reads it), or, without one, by the route reading it once its
///   bytes pass the limit (`BodyReader`). The rest of it is dropped here as it arrives, within
///   the body deadline, and the connection is kept: an HTTP client still uploading (the
///   project's own among them) reads the 413 once it has sent the body, where a close would
///   lose it.
///
/// The other refusals are answered with `Connection: close`, and the connection is closed after.
/// Before a request was read (408 on headers, 503), the output is shut at once and what the
/// client still sends is dropped for a moment; after a body's 408, the rest of the body is read
/// and dropped until it ends (or for a moment), so that the client gets its answer.
final class RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = InboundPart
    typealias InboundOut = InboundPart
    typealias OutboundIn = OutboundPart
    typealias OutboundOut = OutboundPart

    /// Where the reading of requests is.
    enum Reading {
        /// No byte of the next request yet.
        case waiting
        /// Bytes of a request are arriving; its headers are not complete.
        case headers
        /// The headers are read; the end of the body is not.
        case body
    }

    /// The deadline a timer stands for.
    enum Deadline { case idle, headers, body, linger }

    private let limits: ConnectionLimits
    private let connections: ConnectionCounter
    private let metrics: ServerMetrics?
    private let logger: Logger

    private var context: ChannelHandlerContext?
    private var started = false
    private var admitted = false
    private var reading = Reading.waiting
    private var timer: Scheduled<Void>?
    private var headersStarted: NIODeadline?
    private var requestsRead = 0
    private var responsesEnded = 0
    /// A response head was written since the last request head was read.
    private var answerBegun = false
    private var bodyBytes = 0
    /// The body of the current request is refused: its parts are not passed on.
    private var dropBody = false
    /// Close once the answers to the requests read so far are written.
    private var closeAfterResponse = false
    /// Answered for the last time: nothing more is written, what arrives is dropped.
    private var closing = false
    /// Bytes after a request still being answered could not be decoded: answered once it is.
    private var pendingMalformed: HTTPProblem?
    /// The output is shut: the bytes that still arrive are dropped before they are decoded.
    private(set) var dropsBytes = false

    init(limits: ConnectionLimits, connections: ConnectionCounter, metrics: ServerMetrics?, logger: Logger) {
        self.limits = limits
        self.connections = connections
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: the connection

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The header deadline starts at a request's first byte, before the decoder has anything to
        // hand on: a watcher in front of the pipeline (in front of TLS too) reports the bytes.
        try? context.pipeline.syncOperations.addHandler(ByteArrivals(owner: self), position: .first)
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        release()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        release()
        context.fireChannelInactive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        guard connections.tryOpen() else {
            metrics?.connectionRefused()
            logger.debug("connection refused: \(connections.limit) connections are open")
            let problem = HTTPProblem(.serviceUnavailable, code: "server.busy",
                                      detail: "the server has its limit of \(connections.limit) connections open; try again shortly",
                                      rule: "at most \(connections.limit) connections at once", headers: [.retryAfter: "1"])
            answer(problem, context: context, linger: limits.refusedLinger)
            return
        }
        admitted = true
        // A new connection begins its request within the header deadline, or is closed.
        arm(.idle, after: limits.headerTimeout, context: context)
    }

    private func release() {
        if admitted {
            admitted = false
            connections.close()
        }
    }

    // MARK: reading

    /// Called by `ByteArrivals` for every read from the socket.
    func bytesArrived() {
        guard admitted, !closing, reading == .waiting, let context else { return }
        reading = .headers
        headersStarted = .now()
        arm(.headers, after: limits.headerTimeout, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if closing {
            // Answered: what the client still sends is dropped; the end of its body ends the connection.
            if case .end = part { context.close(promise: nil) }
            return
        }
        switch part {
        case .head(let head):
            cancelTimer()
            requestsRead += 1
            reading = .body
            answerBegun = false
            bodyBytes = 0
            dropBody = false
            if let length = head.headerFields[.contentLength].flatMap(Int.init), length > limits.maxBodyBytes {
                // Refused by its size (BodyLimit answers 413 before any route reads it): the body
                // is dropped here as it arrives, within the body deadline, and the connection kept.
                dropBody = true
            }
            if head.headerFields[.contentLength].map({ $0 != "0" }) ?? (head.headerFields[.transferEncoding] != nil) {
                arm(.body, after: limits.bodyTimeout, context: context)
            }
        case .body(let buffer):
            if dropBody { return }
            bodyBytes += buffer.readableBytes
            if bodyBytes > limits.maxBodyBytes {
                // Without a Content-Length: the part that passes the limit is handed on, so that
                // the route reading the body refuses it (413, BodyReader); the rest is dropped.
                dropBody = true
            }
        case .end:
            cancelTimer()
            reading = .waiting
        }
        context.fireChannelRead(data)
    }

    /// Bytes the HTTP/1 decoder cannot read (a broken request line, a bad header, a Content-Length
    /// that is not a number) arrive here as its error. Between requests the answer is a 400
    /// problem+json like every other refusal, and the connection closes; Hummingbird alone would
    /// write a bare 400 without a body. Within a body, or while an earlier request is still being
    /// answered, the error goes on to the route reading the body (400 `request.malformed`) or to
    /// Hummingbird.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, admitted, !closing, reading != .body, pendingMalformed == nil {
            logger.info("request id=\(RequestID()) method=- route=- status=400 duration_ms=0 malformed=\(parserError)")
            let problem = HTTPProblem(.badRequest, code: "request.malformed", detail: "the request is not HTTP/1.1 that can be read: \(parserError)",
                                      rule: "an HTTP/1.1 request (RFC 9112)")
            if responsesEnded == requestsRead {
                cancelTimer()
                answer(problem, context: context, linger: limits.headerLinger)
            } else {
                // Pipelined behind a request still being answered: after its answer.
                pendingMalformed = problem
            }
            return
        }
        context.fireErrorCaught(error)
    }

    // MARK: writing

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if closing {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head):
            answerBegun = true
            if closeAfterResponse {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        case .body:
            break
        case .end:
            responsesEnded += 1
            if closeAfterResponse && responsesEnded >= requestsRead {
                // The last answer: the connection closes once it is written.
                closing = true
                cancelTimer()
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.cascade(to: promise)
                context.writeAndFlush(data, promise: written)
                written.futureResult.assumeIsolated().whenComplete { [self] _ in
                    if reading == .waiting {
                        context.close(promise: nil)  // the request was read to its end: nothing can be lost
                    } else {
                        arm(.linger, after: limits.bodyLinger, context: context)
                    }
                }
                return
            }
            if let problem = pendingMalformed, responsesEnded == requestsRead {
                context.write(data, promise: promise)
                pendingMalformed = nil
                cancelTimer()
                answer(problem, context: context, linger: limits.headerLinger)
                return
            }
            if reading == .waiting && responsesEnded == requestsRead {
                arm(.idle, after: limits.idleTimeout, context: context)
            }
        }
        context.write(data, promise: promise)
    }

    // MARK: deadlines

    private func arm(_ deadline: Deadline, after delay: TimeAmount, context: ChannelHandlerContext) {
        cancelTimer()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timer = nil
            switch deadline {
            case .idle: idleExpired(context)
            case .headers: headersExpired(context)
            case .body: bodyExpired(context)
            case .linger: context.close(promise: nil)
            }
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func idleExpired(_ context: ChannelHandlerContext) {
        guard reading == .waiting, responsesEnded == requestsRead else { return }
        context.close(promise: nil)
    }

    private func headersExpired(_ context: ChannelHandlerContext) {
        guard reading == .headers else { return }
        metrics?.timedOut("headers")
        let seconds = Self.seconds(limits.headerTimeout)
        let elapsed = headersStarted.map { Double((NIODeadline.now() - $0).nanoseconds) / 1e6 } ?? 0
        logger.info("request id=\(RequestID()) method=- route=- status=408 duration_ms=\(String(format: "%.3f", elapsed)) timeout=headers")
        if responsesEnded == requestsRead {
            answer(HTTPProblem(.requestTimeout, code: "request.timeout", detail: "the request headers did not arrive within \(seconds) s",
                               field: "headers", rule: "the headers within \(seconds) s of the request's first byte"),
                   context: context, linger: limits.headerLinger)
        } else {
            // An earlier request is still being answered: close after it.
            closeAfterResponse = true
        }
    }

    private func bodyExpired(_ context: ChannelHandlerContext) {
        guard reading == .body else { return }
        metrics?.timedOut("body")
        let seconds = Self.seconds(limits.bodyTimeout)
        refuseBody(HTTPProblem(.requestTimeout, code: "request.timeout", detail: "the request body did not arrive within \(seconds) s",
                               field: "body", rule: "the whole body within \(seconds) s of the headers"),
                   context: context)
    }

    /// The rest of the current request's body will not be read: the route reading it gets
    /// `problem` (and answers it) unless the server already began to answer; the connection
    /// closes after the answer.
    private func refuseBody(_ problem: HTTPProblem, context: ChannelHandlerContext) {
        cancelTimer()
        dropBody = true
        closeAfterResponse = true
        if !answerBegun && responsesEnded == requestsRead - 1 {
            context.fireErrorCaught(problem)
        } else if responsesEnded >= requestsRead {
            // Already answered (the route did not read the body): nothing more is read.
            closing = true
            arm(.linger, after: limits.bodyLinger, context: context)
        }
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int(value)) : String(value)
    }

    // MARK: closing

    /// Writes `problem` as the whole answer (no route has a request), shuts the output (the client
    /// reads the answer, then the end), drops what still arrives, and closes after `linger`.
    private func answer(_ problem: HTTPProblem, context: ChannelHandlerContext, linger: TimeAmount) {
        let body = problem.bodyBytes
        var fields = problem.headers
        fields[.contentType] = "application/problem+json"
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: problem.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        closing = true
        dropsBytes = true
        // Shut once the answer is written (NIO keeps the order); a channel that cannot half-close is closed.
        let shut = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: shut)
        shut.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        arm(.linger, after: linger, context: context)
    }
}

/// First in a connection's pipeline: tells its `RequestGuard` that bytes arrived (which starts
/// the header deadline of a request), and drops them once the guard is closing the connection.
final class ByteArrivals: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private weak var owner: RequestGuard?

    init(owner: RequestGuard) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let owner {
            if owner.dropsBytes { return }
            owner.bytesArrived()
        }
        context.fireChannelRead(data)
    }
}

/// Refuses, on every route, a body whose Content-Length is over the limit (413), before any route
/// reads it. A body without a Content-Length is held to the limit as it is read (`RequestGuard`,
/// `BodyReader`).
struct BodyLimit<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw BodyReader.tooLarge(request, limit: maxBodyBytes)
        }
        return try await next(request, context)
    }
}

extension HTTPProblem {
    /// The problem+json body, as `response()` sends it.
    var bodyBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(details)) ?? Data())
    }
}
