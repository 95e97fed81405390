import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain TCP connection to the server on loopback, with blocking sends and polled reads: what
/// the limit tests need to send a request one byte at a time, or to hold a connection open
/// without any HTTP client deciding for them.
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    /// Everything read so far.
    private(set) var received: [UInt8] = []
    /// The server closed (or reset) the connection.
    private(set) var closedByPeer = false
    private var closed = false

    init(port: Int) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw HarnessFailure("socket(): errno \(errno)") }
        #if !canImport(Glibc)
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let error = errno
            _ = systemClose(fd)
            throw HarnessFailure("connect(127.0.0.1:\(port)): errno \(error)")
        }
    }

    /// The port of a URL such as `http://127.0.0.1:41234`.
    static func port(of url: String) -> Int { Int(url.split(separator: ":").last!)! }

    /// Sends every byte; false when the connection is closed or reset.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { systemSend(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads what has arrived, waiting at most `timeout` seconds for something (0: no wait).
    func pump(timeout: TimeInterval = 0) {
        guard !closedByPeer, !closed else { return }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            received.append(contentsOf: buffer[0..<n])
        } else {
            closedByPeer = true
        }
    }

    /// The first whole response read (by its Content-Length), waiting up to `timeout` seconds;
    /// nil when none came (the connection may have been closed instead).
    func response(timeout: TimeInterval) -> RawResponse? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let response = RawResponse(received) { return response }
            if closedByPeer || Date() >= deadline { return nil }
            pump(timeout: min(0.05, max(0, deadline.timeIntervalSinceNow)))
        }
    }

    /// Reads until the server closes the connection; false when it did not within `timeout` seconds.
    func waitClosed(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !closedByPeer && Date() < deadline { pump(timeout: 0.05) }
        return closedByPeer
    }

    /// Forgets what was read (before the next request on the same connection).
    func clear() { received = [] }

    func close() {
        guard !closed else { return }
        closed = true
        _ = systemClose(fd)
    }

    deinit { close() }
}

/// A response parsed from raw bytes.
struct RawResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { throw HarnessFailure("not a JSON object: \(text)") }
        return object
    }

    /// Nil until the head and as many body bytes as its Content-Length are there.
    init?(_ bytes: [UInt8]) {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.firstRange(of: separator) else { return nil }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers["content-length"].flatMap(Int.init) ?? 0
        let bodyBytes = bytes[end.upperBound...]
        guard bodyBytes.count >= length else { return nil }
        self.status = status
        self.headers = headers
        self.body = Array(bodyBytes.prefix(length))
    }
}

private func systemSend(_ fd: Int32, _ pointer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
    #else
    Darwin.send(fd, pointer, count, 0)
    #endif
}

private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

/// Runs blocking work on a thread of its own (not on the concurrency pool, which the HTTP
/// client's awaits share), and awaits its result.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}
