#!/usr/bin/env python3
"""Cold start of `permit verify`: one FP1 text checked by a fresh process, N times.

    scripts/bench-start.py PERMIT [--base OTHER_PERMIT] [--runs N] [--warmup N]

Makes a throwaway data directory with PERMIT (init, then `seal` of Tests/Fixtures/typical-permit.json
with its issuer key), then times `PERMIT verify TEXT --trust … --root … --at 2026-12-10`, process start
to exit, with posix_spawn and waitpid (output to /dev/null). With --base, the two binaries run
alternately on the same files, so a busy machine slows both alike. Prints the median, p90, fastest
and slowest in milliseconds; the target for `permit verify` is under 50 ms.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def quantile(sorted_values, q):
    """The q-quantile by linear interpolation between closest ranks."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def spawn(argv, devnull):
    """Milliseconds from posix_spawn to the child's exit, and its exit status."""
    started = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status = os.waitpid(pid, 0)
    return (time.perf_counter_ns() - started) / 1e6, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("permit", help="the permit binary to measure (a release build)")
    parser.add_argument("--base", help="a second permit binary, run alternately, to compare against")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    binaries = [("this", os.path.abspath(args.permit))]
    if args.base:
        binaries.insert(0, ("base", os.path.abspath(args.base)))

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="permit-start-") as work:
        data = os.path.join(work, "data")
        env = dict(os.environ, PERMIT_HOME=data, PERMIT_NOW="2026-11-30T09:00:00+08:00", LANG="C.UTF-8")
        subprocess.run([binaries[-1][1], "init", "--authority", "330114", "--name", "杭州市钱塘区交通运输局",
                        "--phone", "0571-86000000"], env=env, check=True, stdout=subprocess.DEVNULL)
        text = subprocess.run([binaries[-1][1], "seal", "--key", os.path.join(data, "issuer-key.pem"),
                               "--claims", os.path.join(root, "Tests/Fixtures/typical-permit.json")],
                              env=env, check=True, capture_output=True, text=True).stdout.rstrip("\n")
        tail = ["verify", text, "--trust", os.path.join(data, "trust-list.cose"),
                "--root", os.path.join(data, "root.pub.pem"), "--at", "2026-12-10"]
        times = {name: [] for name, _ in binaries}
        with open(os.devnull, "wb") as null:
            devnull = null.fileno()
            for name, path in binaries:
                check = subprocess.run([path] + tail, capture_output=True, text=True)
                if check.returncode != 0:
                    sys.exit(f"verify-start: {path} verify exited {check.returncode}: {check.stdout}{check.stderr}")
            for _ in range(args.warmup):
                for _, path in binaries:
                    spawn([path] + tail, devnull)
            for _ in range(args.runs):
                for name, path in binaries:
                    ms, status = spawn([path] + tail, devnull)
                    if status != 0:
                        sys.exit(f"verify-start: {path} verify exited {status}")
                    times[name].append(ms)

    load = os.getloadavg()[0]
    print(f"verify-start: permit verify of one payload, process start included; {args.runs} runs each"
          f"{' alternating' if args.base else ''} after {args.warmup} warm-ups; {os.cpu_count()} cores, load average {load:.2f}")
    medians = {}
    for name, path in binaries:
        values = sorted(times[name])
        medians[name] = statistics.median(values)
        size = os.path.getsize(path) / 1e6
        print(f"verify-start: {name:4} median {medians[name]:6.1f} ms  p90 {quantile(values, 0.9):6.1f} ms  "
              f"fastest {values[0]:6.1f} ms  slowest {values[-1]:6.1f} ms  ({size:.1f} MB binary: {path})")
    if args.base:
        print(f"verify-start: this/base median {medians['this'] / medians['base']:.3f} "
              f"({medians['this'] - medians['base']:+.1f} ms)")
    print(f"verify-start: target < 50 ms (median of this build): {'met' if medians['this'] < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
