import Foundation
import PermitAPI
import PermitFoundation

/// The audit chain's hashing: each event's hash covers its fields and the previous hash. It is
/// computed here, above every backend, and only stored by them.
public enum AuditChain {
    /// The event that follows `last` (or starts the chain).
    public static func event(after last: AuditEvent?, at: Date, actor: String, action: String, subject: String, content: Data) -> AuditEvent {
        let seq = (last?.seq ?? 0) + 1
        let prev = last?.hash ?? genesis
        let ms = Millis.from(at)
        let hash = hash(seq: seq, atMillis: ms, actor: actor, action: action, subject: subject, content: content, prevHash: prev)
        return AuditEvent(seq: seq, at: Millis.date(ms), actor: actor, action: action, subject: subject, content: content, prevHash: prev, hash: hash)
    }

    public static let genesis = String(repeating: "0", count: 64)

    public static func hash(seq: Int64, atMillis: Int64, actor: String, action: String, subject: String, content: Data, prevHash: String) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(content.count + 160)
        for field in [prevHash, String(seq), String(atMillis), actor, action, subject] {
            bytes += field.utf8
            bytes.append(0x0a)
        }
        bytes += content
        return Hashing.sha256Hex(bytes)
    }

    /// The first event whose hash or link does not hold, or nil when the chain is whole.
    public static func firstBrokenLink(_ events: [AuditEvent]) -> (seq: Int64, why: String)? {
        var prev = genesis
        var expectedSeq: Int64 = 1
        for e in events {
            if e.seq != expectedSeq { return (e.seq, "sequence jumps from \(expectedSeq - 1) to \(e.seq)") }
            if e.prevHash != prev { return (e.seq, "its previous-hash link does not match event \(e.seq - 1)") }
            let h = hash(seq: e.seq, atMillis: Millis.from(e.at), actor: e.actor, action: e.action, subject: e.subject, content: e.content, prevHash: e.prevHash)
            if h != e.hash { return (e.seq, "its content does not match its hash") }
            prev = e.hash
            expectedSeq += 1
        }
        return nil
    }
}
