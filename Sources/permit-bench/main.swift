// Benchmarks, run by `scripts/bench NAME` in release mode. Each reports its throughput as a
// ratio to a reference measured in the same run, because these machines are noisy.
import Foundation

let benches: [String: () async throws -> Void] = [
    "seal": runSealBench,
    "render": runRenderBench,
    "verify": runVerifyBench,
    "workflow": runWorkflowBench,
    "apply-parts": runApplyPartsBench,
    // `store --postgres` / `--database URL`: the growth bench on PostgreSQL; plain `store`, SQLite's pages.
    "store": {
        if let postgres = try PostgresBenchDatabase.fromArguments(environment: ProcessInfo.processInfo.environment) {
            try await runGrowthBench(postgres: postgres)
        } else {
            try runStoreBench()
            try await runPageBench()
        }
    },
    "growth": {
        guard let postgres = try PostgresBenchDatabase.fromArguments(environment: ProcessInfo.processInfo.environment) else {
            throw BenchFailure("permit-bench growth: give --postgres (a throwaway cluster) or --database URL")
        }
        try await runGrowthBench(postgres: postgres)
    },
    "httpsig": runHTTPSignatureBench,
    "server": runServerBench,
    "copy": runCopyBench,
]

let name = CommandLine.arguments.dropFirst().first ?? ""
guard let bench = benches[name] else {
    FileHandle.standardError.write(Data("usage: permit-bench \(benches.keys.sorted().joined(separator: "|"))\n".utf8))
    exit(2)
}
try await bench()
