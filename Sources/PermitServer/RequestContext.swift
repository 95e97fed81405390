import Foundation
import Hummingbird
import Logging
import NIOCore
import PermitAPI

/// The context of every request: Hummingbird's core storage, the peer's address, and the caller
/// once a request's signature has been verified (what the log line and the metrics name).
public struct PermitRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address as the connection reports it (nil for a unix socket or a test).
    public var remoteAddress: SocketAddress?
    /// The verified signer, set by `Authenticator`. Kept in a box that every copy of the context
    /// shares, so that the request log, outside the authenticator, names the key that signed.
    public var caller: RegisteredCaller? {
        get { callerBox.value }
        nonmutating set { callerBox.value = newValue }
    }
    private let callerBox = CallerBox()
    /// The authority of a signed route's path, set by `Authenticator` once the caller is verified.
    public var authority: HostedAuthority?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are collected by each route against the configured limit (413 above it).
    public var maxUploadSize: Int { ServerConfiguration.defaultMaxBodyBytes }
}

/// The caller of one request, shared by the copies of its context.
final class CallerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var caller: RegisteredCaller?

    var value: RegisteredCaller? {
        get { lock.withLock { caller } }
        set { lock.withLock { caller = newValue } }
    }
}
