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
    /// The verified signer, set by `Authenticator`.
    public var caller: RegisteredCaller?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are collected by each route against the configured limit (413 above it).
    public var maxUploadSize: Int { ServerConfiguration.defaultMaxBodyBytes }
}
