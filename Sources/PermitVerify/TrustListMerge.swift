import Foundation
import PermitSeal

/// National mutual recognition (payload spec §5): a national root signs the merged list of every
/// authority's keys, and checkpoints pin that root.
public enum TrustListMerge {
    /// Merges trust lists into one, unsigned; the caller signs it with the national root.
    ///
    /// - Keys are deduplicated by kid and public key. When the same key appears in several
    ///   lists, the entry from the list with the highest `sequence` wins (it carries the latest
    ///   `notAfter`, set when a key is rotated); ties keep the first. A key claimed by two
    ///   different authorities is an error.
    /// - `sequence` defaults to the highest input sequence + 1.
    /// - `nextUpdate` defaults to the earliest input `nextUpdate`: a merge is no fresher than
    ///   its stalest input.
    public static func merge(_ lists: [TrustList], sequence: Int? = nil, issuedAt: Date,
                             nextUpdate: Date? = nil) throws(ListError) -> TrustList {
        guard !lists.isEmpty else { throw ListError(.invalidField, "no trust list to merge") }
        var order: [String] = []
        var chosen: [String: (entry: TrustList.Entry, sequence: Int)] = [:]
        for list in lists {
            _ = try list.resolvedKeys()  // every kid recomputed before anything is merged
            for entry in list.keys {
                let id = entry.kid + "/" + entry.publicKey
                if let existing = chosen[id] {
                    guard existing.entry.authority == entry.authority else {
                        throw ListError(.invalidField, "key \(entry.kid) is listed for authority \(existing.entry.authority) and for \(entry.authority)")
                    }
                    if list.sequence > existing.sequence { chosen[id] = (entry, list.sequence) }
                } else {
                    order.append(id)
                    chosen[id] = (entry, list.sequence)
                }
            }
        }
        let next: Date
        if let nextUpdate {
            next = nextUpdate
        } else {
            let dates = lists.compactMap(\.nextUpdateDate)
            guard let earliest = dates.min() else { throw ListError(.invalidField, "no input list has a readable nextUpdate") }
            next = earliest
        }
        return TrustList(sequence: sequence ?? (lists.map(\.sequence).max()! + 1), issuedAt: issuedAt,
                         nextUpdate: next, keys: order.map { chosen[$0]!.entry })
    }
}

extension TrustList {
    /// Reads a signed trust list's document WITHOUT checking its signature: for showing a list
    /// whose root is not at hand, and for merging inputs the operator vouches for. Never use
    /// the result to verify permits.
    public static func readUnverified(_ signed: [UInt8]) throws(ListError) -> TrustList {
        let cose: COSESign1
        do {
            cose = try COSESign1.decode(signed)
        } catch {
            throw ListError(.unsigned, "not a signed COSE_Sign1 message (\(error.detail))")
        }
        let list: TrustList
        do {
            list = try JSONDecoder().decode(TrustList.self, from: Data(cose.payload))
        } catch {
            throw ListError(.malformed, "the trust list is not valid JSON of its schema: \(error)")
        }
        guard list.format == formatName else { throw ListError(.wrongFormat, "format is \"\(list.format)\", expected \"\(formatName)\"") }
        return list
    }

    /// The kid of the key that signed a list (nil if the message names none or is not COSE).
    public static func signerKid(_ signed: [UInt8]) -> [UInt8]? {
        (try? COSESign1.decode(signed))?.kid
    }
}
