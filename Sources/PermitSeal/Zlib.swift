import CZlib
import Foundation

/// Why zlib data could not be inflated.
public struct ZlibError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case invalidStream, truncated, outputTooLarge, trailingBytes, internalError }
    public var kind: Kind
    public var detail: String
    public var description: String { "zlib \(kind.rawValue): \(detail)" }
}

/// zlib (RFC 1950) compression at level 9, and inflation bounded to a maximum output size.
///
/// A fresh `compress2` at level 9 allocates and clears about 256 KiB of state, which costs
/// several times an Ed25519 signature on a 400-byte permit. So a `Zlib` keeps one deflate and
/// one inflate stream and resets them between calls, with a window sized for permits.
/// An instance is safe to share between threads; calls on one instance are serialised.
public final class Zlib: @unchecked Sendable {
    /// The most that `inflate` will produce: a compression bomb is an error, not a hang.
    public let maxOutput: Int
    private let lock = NSLock()
    private var deflater = z_stream()
    private var inflater = z_stream()
    private var output: [UInt8]
    private var deflaterReady = false
    private var inflaterReady = false

    /// deflate's window: 2^10 = 1 KiB covers the largest permit's COSE_Sign1 (814 bytes for Tests/Fixtures/largest-permit.json),
    /// and a small window, hash and buffer keep the state small enough to stay in cache beside
    /// the signature code. The inflater takes the full 32 KiB window, so that any valid zlib
    /// stream from any implementation inflates.
    private static let deflateWindowBits: Int32 = 10
    private static let deflateMemLevel: Int32 = 2

    public init(maxOutput: Int = 64 * 1024) {
        self.maxOutput = maxOutput
        self.output = [UInt8](repeating: 0, count: maxOutput)
    }

    deinit {
        if deflaterReady { deflateEnd(&deflater) }
        if inflaterReady { inflateEnd(&inflater) }
    }

    /// A process-wide instance for callers that hold none of their own.
    public static let shared = Zlib()

    /// `data` compressed as a zlib stream at level 9.
    public func compress(_ data: [UInt8]) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        if deflaterReady {
            deflateReset(&deflater)
        } else {
            let status = deflateInit2_(&deflater, 9, Z_DEFLATED, Self.deflateWindowBits, Self.deflateMemLevel,
                                       Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            precondition(status == Z_OK, "deflateInit2 failed: \(status)")
            deflaterReady = true
        }
        let bound = Int(deflateBound(&deflater, uLong(data.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let produced: Int = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { outBuf in
                deflater.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                deflater.avail_in = uInt(input.count)
                deflater.next_out = outBuf.baseAddress
                deflater.avail_out = uInt(outBuf.count)
                let status = deflate(&deflater, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate into a deflateBound buffer must finish: \(status)")
                return outBuf.count - Int(deflater.avail_out)
            }
        }
        out.removeLast(out.count - produced)
        return out
    }

    /// Inflates one zlib stream that must fill `data` exactly, producing at most `maxOutput` bytes.
    public func inflate(_ data: [UInt8]) throws(ZlibError) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        if inflaterReady {
            inflateReset(&inflater)
        } else {
            guard inflateInit2_(&inflater, MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ZlibError(kind: .internalError, detail: "inflateInit2 failed")
            }
            inflaterReady = true
        }
        let maxOutput = self.maxOutput
        let result: Result<[UInt8], ZlibError> = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { outBuf in
                inflater.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                inflater.avail_in = uInt(input.count)
                inflater.next_out = outBuf.baseAddress
                inflater.avail_out = uInt(outBuf.count)
                let status = CZlib.inflate(&inflater, Z_FINISH)
                let produced = outBuf.count - Int(inflater.avail_out)
                switch status {
                case Z_STREAM_END:
                    if inflater.avail_in != 0 {
                        return .failure(ZlibError(kind: .trailingBytes, detail: "\(inflater.avail_in) byte(s) after the end of the zlib stream"))
                    }
                    return .success(Array(outBuf[0..<produced]))
                case Z_BUF_ERROR where inflater.avail_out == 0, Z_OK where inflater.avail_out == 0:
                    return .failure(ZlibError(kind: .outputTooLarge, detail: "inflated data exceeds \(maxOutput) bytes"))
                case Z_BUF_ERROR:
                    return .failure(ZlibError(kind: .truncated, detail: "the zlib stream ends early"))
                default:
                    let message = inflater.msg.map { String(cString: $0) } ?? "status \(status)"
                    return .failure(ZlibError(kind: .invalidStream, detail: message))
                }
            }
        }
        return try result.get()
    }
}
