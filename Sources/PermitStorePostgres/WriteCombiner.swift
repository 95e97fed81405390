import Foundation
import PermitStore

/// The write transactions of one authority that wait in this process, run together as one
/// transaction: the authority's lock is granted once, COMMIT answered once, and the handing over
/// of the lock between writers (its grant reaching a transaction thread, COMMIT reaching the
/// server), which on a busy machine takes longer than the writers' own work, is paid once for
/// all of them.
///
/// A writer's body runs in a savepoint of the combined transaction (`StoreTransaction.savepoint`):
/// what it writes is kept or undone alone, and the error it throws, a refusal or a broken rule of
/// the database, is its own, as if it had run alone. Its outcome is handed back only once the
/// combined transaction has committed. If that transaction fails as a whole:
/// - a failure that may be retried (a dropped connection, a deadlock, a writer's savepoint that a
///   retryable failure reached) runs every body of it again, in one transaction, as
///   `PostgresPermitStore.transaction` retries any transaction;
/// - any other failure (one that no savepoint could pin on its writer) runs each of its bodies
///   again in a transaction of its own, so that it is reported only to the writer it belongs to.
///
/// One combined transaction takes writers at a time: it takes those waiting when it starts, and
/// the ones that arrive while it waits for the lock or runs, up to `maximumWriters`; the writers
/// that arrive once it has stopped taking start the next, which asks for the lock while this one
/// commits. Each body runs as it would alone: the lock is already held and the counters read,
/// which a body never sees.
final class WriteCombiner: @unchecked Sendable {
    /// Writers a combined transaction takes at most: a bound on the time one instance holds the lock.
    static let maximumWriters = 32

    private let lock = NSLock()
    private var waiting: [CombinedWriter] = []
    /// A combined transaction is still taking writers.
    private var taking = false
    /// Combined transactions committed, and the writers they ran (for the tests).
    private(set) var committed = (transactions: 0, writers: 0)

    /// Runs `body` in the next combined transaction, through `run` (which runs a transaction's
    /// body, retried as any transaction is), and returns what it returned or throws what it threw.
    func write<T>(readAhead: ReadAhead, _ body: (PostgresTransaction) throws -> T,
                  run: @escaping @Sendable (@escaping (PostgresTransaction) throws -> Void) async throws -> Void) async throws -> T {
        try await withoutActuallyEscaping(body) { body in
            let writer = TypedWriter(body, readAhead: readAhead)
            // The body is not used once this returns: the outcome is handed back after its last run.
            defer { writer.body = nil }
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                writer.continuation = continuation
                let start: Bool = lock.withLock {
                    waiting.append(writer)
                    if taking { return false }
                    taking = true
                    return true
                }
                if start { Task { await self.combine(run: run) } }
            }
        }
    }

    /// The waiting writers for the transaction that is taking them, up to its most, or none: it
    /// then stops taking. If writers are still waiting (it took its most), it starts the next
    /// (`startsNext`); otherwise the next writer to arrive does.
    private func next(_ batch: Batch) -> [CombinedWriter] {
        lock.withLock {
            let room = Self.maximumWriters - batch.writers.count
            if room > 0, !waiting.isEmpty {
                let taken = Array(waiting.prefix(room))
                waiting.removeFirst(taken.count)
                return taken
            }
            stopTaking(batch)
            return []
        }
    }

    /// Called with `lock` held.
    private func stopTaking(_ batch: Batch) {
        batch.closed = true
        taking = !waiting.isEmpty
        batch.startsNext = taking
    }

    /// One combined transaction, then each writer's outcome.
    private func combine(run: @escaping @Sendable (@escaping (PostgresTransaction) throws -> Void) async throws -> Void) async {
        let batch = Batch()
        // The first writers are taken before the transaction starts: a transaction that fails
        // before its body runs (no connection) still fails them, and the next starts anew.
        batch.writers = next(batch)
        guard !batch.writers.isEmpty else { return }
        var failure: (any Error)?
        do {
            try await run { tx in
                // The lock first: the writers that arrive while it waits for it go with those
                // taken before, and all of them read what they name in one wait after the grant.
                // A run again (a retry) runs the writers it took before, then may take more.
                try tx.waitForLock()
                if !batch.closed { batch.writers += self.next(batch) }
                try tx.readAhead(batch.writers.map(\.readAhead))
                for writer in batch.writers { try Self.runSavepoint(writer, tx) }
                while !batch.closed {
                    let taken = self.next(batch)
                    guard !taken.isEmpty else { break }
                    batch.writers += taken
                    try tx.readAhead(taken.map(\.readAhead))
                    for writer in taken { try Self.runSavepoint(writer, tx) }
                }
            }
        } catch {
            // Failed before it stopped taking: it stops now.
            if !batch.closed { lock.withLock { stopTaking(batch) } }
            failure = error
        }
        if batch.startsNext { Task { await self.combine(run: run) } }
        if let failure {
            await Self.fail(batch.writers, failure, run: run)
        } else {
            lock.withLock { committed = (committed.transactions + 1, committed.writers + batch.writers.count) }
            for writer in batch.writers { writer.finish() }
        }
    }

    /// Runs one writer's body in a savepoint. A failure that may be retried fails the whole
    /// transaction (which then runs again); any other error is the writer's own outcome.
    private static func runSavepoint(_ writer: CombinedWriter, _ tx: PostgresTransaction) throws {
        // Read already with the others, unless a writer before it wrote for what it names.
        try tx.readAhead([writer.readAhead])
        let failures = tx.failures
        tx.writers += 1
        do {
            try tx.savepoint {
                try writer.run(tx)
                // A failure the body caught still aborted what it wrote: its own, undone alone.
                if let failure = tx.abortedBy { throw failure.retryable ? failure : failure.error }
            }
            writer.failure = nil
        } catch {
            if let failure = error as? TransactionFailure, failure.retryable { throw failure }
            if tx.failures > failures, let failure = tx.lastFailure, failure.retryable { throw failure }
            writer.failure = error
        }
    }

    /// The combined transaction failed as a whole. One that may not be retried is run again
    /// writer by writer, each alone, so that the failure reaches only its own writer; one whose
    /// retries ran out (the store busy) is every writer's.
    private static func fail(_ writers: [CombinedWriter], _ error: any Error,
                             run: @escaping @Sendable (@escaping (PostgresTransaction) throws -> Void) async throws -> Void) async {
        let retried = (error as? StoreError)?.code == .busy
        guard writers.count > 1, !retried else {
            for writer in writers { writer.finish(failure: error) }
            return
        }
        for writer in writers {
            do {
                try await run { tx in
                    try tx.readAhead([writer.readAhead])
                    try writer.run(tx)
                }
                writer.failure = nil
                writer.finish()
            } catch {
                writer.finish(failure: error)
            }
        }
    }

    /// The writers one combined transaction took, kept across its runs.
    private final class Batch: @unchecked Sendable {
        var writers: [CombinedWriter] = []
        /// It takes no more writers.
        var closed = false
        /// It started the next combined transaction when it stopped taking.
        var startsNext = false
    }
}

/// A writer waiting for, or taken by, a combined transaction.
class CombinedWriter: @unchecked Sendable {
    /// What its body reads first.
    let readAhead: ReadAhead
    /// The error its body threw in the last run, if any.
    var failure: (any Error)?

    init(readAhead: ReadAhead) { self.readAhead = readAhead }

    func run(_ tx: PostgresTransaction) throws {}
    /// Hands the outcome back: `failure` if set, else what the body returned.
    func finish(failure: (any Error)? = nil) {}
}

private final class TypedWriter<T>: CombinedWriter, @unchecked Sendable {
    var body: ((PostgresTransaction) throws -> T)?
    var result: T?
    var continuation: CheckedContinuation<T, any Error>?

    init(_ body: @escaping (PostgresTransaction) throws -> T, readAhead: ReadAhead) {
        self.body = body
        super.init(readAhead: readAhead)
    }

    override func run(_ tx: PostgresTransaction) throws {
        guard let body else { throw StoreError(.io, "a transaction ran after its caller left") }
        result = try body(tx)
    }

    override func finish(failure: (any Error)? = nil) {
        guard let continuation else { return }
        self.continuation = nil
        if let error = failure ?? self.failure {
            continuation.resume(throwing: error)
        } else if let result {
            continuation.resume(returning: result)
        } else {
            continuation.resume(throwing: StoreError(.io, "a combined transaction ended without an outcome"))
        }
    }
}
