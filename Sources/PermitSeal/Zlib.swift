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
///
/// `compress(_:storedSuffix:)` can leave a known-incompressible tail (a COSE signature: 64
/// uniformly random bytes) out of the Huffman coding: the head goes through deflate at level 9,
/// then `deflateParams` switches the same stream to level 0, zlib's documented way to "switch
/// between compression and straight copy of the input data", and the tail is copied into a
/// stored block. Coding 64 random bytes adds ~60 distinct symbols of frequency one to the
/// block's literal tree, which made zlib's tree building about half of a deflate (24 µs instead
/// of 13 µs for the typical permit on varying input); the stored block costs 5 bytes of framing,
/// about what Huffman coding random bytes costs, so the size stays within a byte (typical
/// permit: 338 against 336–338) or shrinks (largest: 722–723 against 736–738; `permit-bench seal`
/// prints both). The result is one ordinary zlib stream; any inflater reads it.
public final class Zlib: @unchecked Sendable {
    /// The most that `inflate` will produce: a compression bomb is an error, not a hang.
    public let maxOutput: Int
    private let lock = NSLock()
    private var deflater = z_stream()
    private var inflater = z_stream()
    private var output: [UInt8]
    private var deflaterReady = false
    /// The level the deflate stream is set to; `deflateReset` keeps it.
    private var deflaterLevel: Int32 = 9
    private var inflaterReady = false

    /// deflate's window: 2^10 = 1 KiB covers the largest permit's COSE_Sign1 (814 bytes for Tests/Fixtures/largest-permit.json),
    /// and a small window and hash keep the state small enough to stay in cache beside the
    /// signature code. memLevel 4 gives a 1,024-symbol block buffer, so a whole permit is one
    /// block: at memLevel 2 (256 symbols) the largest permit split into several blocks, each
    /// with its own trees (773 bytes, against 736 at memLevel 4). The inflater takes the full
    /// 32 KiB window, so that any valid zlib stream from any implementation inflates.
    private static let deflateWindowBits: Int32 = 10
    private static let deflateMemLevel: Int32 = 4
    static let level: Int32 = 9

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

    /// `data` compressed as one zlib stream: all of it at level 9, or, with `storedSuffix`, all
    /// but its last `storedSuffix` bytes at level 9 and those bytes in a stored block.
    public func compress(_ data: [UInt8], storedSuffix: Int = 0) -> [UInt8] {
        precondition(storedSuffix >= 0 && storedSuffix <= data.count, "storedSuffix \(storedSuffix) outside 0…\(data.count)")
        lock.lock()
        defer { lock.unlock() }
        if storedSuffix > 0, let packed = deflate(data, storedSuffix: storedSuffix) { return packed }
        return deflate(data, storedSuffix: 0)!
    }

    /// One deflate call sequence on the reused stream; nil if zlib refused a step (the caller
    /// then compresses everything at level 9).
    private func deflate(_ data: [UInt8], storedSuffix: Int) -> [UInt8]? {
        if deflaterReady {
            deflateReset(&deflater)
        } else {
            let status = deflateInit2_(&deflater, Self.level, Z_DEFLATED, Self.deflateWindowBits, Self.deflateMemLevel,
                                       Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            precondition(status == Z_OK, "deflateInit2 failed: \(status)")
            deflaterReady = true
            deflaterLevel = Self.level
        }
        if deflaterLevel != Self.level {
            // Right after a reset nothing is pending, so this only changes the parameters.
            precondition(deflateParams(&deflater, Self.level, Z_DEFAULT_STRATEGY) == Z_OK, "deflateParams after reset failed")
            deflaterLevel = Self.level
        }
        // deflateBound, plus a stored block's header and the bits that end the compressed block.
        let bound = Int(deflateBound(&deflater, uLong(data.count))) + 16
        let headCount = data.count - storedSuffix
        var status: Int32 = Z_OK
        let out = [UInt8](unsafeUninitializedCapacity: bound) { outBuf, initialized in
            data.withUnsafeBufferPointer { input in
                deflater.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                deflater.next_out = outBuf.baseAddress
                deflater.avail_out = uInt(outBuf.count)
                if storedSuffix == 0 {
                    deflater.avail_in = uInt(input.count)
                    status = CZlib.deflate(&deflater, Z_FINISH)
                } else {
                    deflater.avail_in = uInt(headCount)
                    status = CZlib.deflate(&deflater, Z_NO_FLUSH)
                    if status == Z_OK {
                        // Ends the compressed block (Z_BLOCK) and switches to straight copy.
                        status = deflateParams(&deflater, 0, Z_DEFAULT_STRATEGY)
                        deflaterLevel = 0
                    }
                    if status == Z_OK {
                        deflater.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + headCount)
                        deflater.avail_in = uInt(storedSuffix)
                        status = CZlib.deflate(&deflater, Z_FINISH)
                    }
                }
                initialized = outBuf.count - Int(deflater.avail_out)
            }
        }
        if status == Z_STREAM_END { return out }
        precondition(storedSuffix > 0, "deflate into a deflateBound buffer must finish: \(status)")
        return nil
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
