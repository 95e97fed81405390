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
/// One combined transaction takes the writers waiting when it starts (up to `maximumWriters`),
/// and asks for the lock with what they read first in the same statement
/// (`PostgresTransaction.startWriting`), so that the grant brings their reads too. At the grant
/// it takes the writers that arrived while it waited, and reads what they name in one wait.
/// The writers that arrive after that wait for the next transaction, which starts once this
/// one has run its writers' bodies: it asks for the lock while this one commits. A transaction
/// thus waits at most three times (the grant, the late writers' reads, COMMIT), where taking
/// writers while the bodies ran cost a wait behind the lock for each group taken (3.6 waits a
/// transaction in the server bench at 16 clients, 4 to 6 in a third of them). Each body runs as
/// it would alone: the lock is already held and the counters read, which a body never sees.
final class WriteCombiner: @unchecked Sendable {
    /// Writers a combined transaction takes at most: a bound on the time one instance holds the lock.
    static let maximumWriters = 32

    private let lock = NSLock()
    private var waiting: [CombinedWriter] = []
    /// A combined transaction has started and not yet run its writers' bodies: the writers that
    /// arrive meanwhile wait for the next.
    private var asking = false
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
                    if asking { return false }
                    asking = true
                    return true
                }
                if start { Task { await self.combine(run: run) } }
            }
        }
    }

    /// The writers waiting, up to `most`, first come first.
    private func take(upTo most: Int) -> [CombinedWriter] {
        lock.withLock {
            let taken = Array(waiting.prefix(max(0, most)))
            waiting.removeFirst(taken.count)
            return taken
        }
    }

    /// The transaction that asked has run its writers' bodies (or failed): the next starts if
    /// writers wait, else the next writer to arrive starts it.
    private func bodiesDone(_ batch: Batch, run: @escaping @Sendable (@escaping (PostgresTransaction) throws -> Void) async throws -> Void) {
        guard !batch.done else { return }
        batch.done = true
        let next: Bool = lock.withLock {
            asking = !waiting.isEmpty
            return asking
        }
        if next { Task { await self.combine(run: run) } }
    }

    /// One combined transaction, then each writer's outcome.
    private func combine(run: @escaping @Sendable (@escaping (PostgresTransaction) throws -> Void) async throws -> Void) async {
        let batch = Batch()
        // Taken before the transaction starts: a transaction that fails before its body runs (no
        // connection) still fails them, and the next starts anew.
        batch.writers = take(upTo: Self.maximumWriters)
        guard !batch.writers.isEmpty else { return bodiesDone(batch, run: run) }
        var failure: (any Error)?
        do {
            try await run { tx in
                // The lock, the counters and what the writers read first: one statement. A run
                // again (a retry) runs the writers it took before, and may take more at its grant.
                try tx.startWriting(readingAhead: batch.writers.map(\.readAhead))
                // The writers that arrived while it waited for the grant: their reads, one wait.
                let late = self.take(upTo: Self.maximumWriters - batch.writers.count)
                batch.writers += late
                try tx.readAhead(late.map(\.readAhead))
                for writer in batch.writers { try Self.runSavepoint(writer, tx) }
                self.bodiesDone(batch, run: run)
            }
        } catch {
            failure = error
        }
        bodiesDone(batch, run: run)
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
        /// Its writers' bodies have run once (or it failed): the next transaction may start.
        var done = false
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
