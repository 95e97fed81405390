#!/usr/bin/env python3
"""Faults against `permit serve`, on loopback, bounded in requests and time (scripts/chaos).

Each fault runs on a deployment of its own: a data directory made with the CLI, the ten
departments' approvers and the example firms registered, each party working from a directory
holding only its own key, through `permit … --server`. After each fault the store is read
directly and held to what the clients were told:

    sent        requests (or batch items) the clients sent
    accepted    items the server accepted (an application stored, a decision recorded)
    refused     items refused with a clear error (a problem code the client printed)
    lost        items a client was told were accepted that the store does not hold (must be 0)
    duplicated  items the store holds more than once (must be 0)
    audit       `permit audit verify` on the data directory afterwards

    chaos.py PERMIT-BINARY [--store sqlite] [--only NAME…]

Prints one table row per fault and exits 1 if any row lost or duplicated anything, saw a 5xx, or
failed its audit. The PostgreSQL rows run once the PostgreSQL store exists (issue 12).
"""
import argparse
import collections
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from permitdeploy import DEPARTMENTS, NOW_UNIX, ROOT, Deployment, json_lines, load_httpsig  

DISK_KIB = 1500
DEADLINE = time.monotonic() + 15 * 60  # the whole run stops by itself


Row = collections.namedtuple("Row", "fault store sent accepted refused lost duplicated audit note")


def crash_during_apply(permit, work, store):
    """SIGKILL the server at several points during a firm's batch apply; restart; the firm retries."""
    dep = Deployment(permit, work, firms=2, copies=6)
    firm = dep.firms[0]
    file = os.path.join(dep.party(f"firm-{firm}"), "applications.jsonl")
    refs = [json.loads(l)["reference"] for l in open(file, encoding="utf-8")]
    told_accepted, refused = set(), {}
    rng = random.Random(1)
    kills = 0
    for attempt in range(8):
        proc = dep.remote_background(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
        if attempt < 3:  # three kills, at different points of the batch
            time.sleep(rng.uniform(0.15, 0.6))
            dep.server.kill()
            kills += 1
        out, err = proc.communicate(timeout=300)
        for r in json_lines(out):
            if r.get("state") in ("pending", "issued"):
                told_accepted.add(r["reference"])
            elif r.get("errors"):
                refused[r.get("reference")] = r["errors"][0]["code"]
        if attempt < 3:
            dep.server = dep.server.restart()
        elif proc.returncode in (0, 1):
            break
    stored = dep.stored_references()
    mine = {ref: n for (code, ref), n in stored.items() if code == firm}
    lost = len([r for r in told_accepted if r not in mine])
    duplicated = sum(n - 1 for n in mine.values() if n > 1) + len([r for r in mine if r not in refs])
    not_stored = [r for r in refs if r not in mine]
    unexplained = [r for r in not_stored if r not in refused]
    row = Row("SIGKILL during batch apply (×3), clients retry", store, len(refs), len(mine), len(not_stored) - len(unexplained),
              lost, duplicated, dep.audit(), f"{kills} kills" + (f"; {len(unexplained)} neither stored nor refused" if unexplained else ""))
    dep.stop()
    return row


def crash_during_approve(permit, work, store):
    """SIGKILL the server during the departments' batch approvals; restart; each department retries."""
    dep = Deployment(permit, work, firms=2, copies=4)
    for firm in dep.firms:
        dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
    told, refused_codes = set(), collections.Counter()
    sent = 0
    rng = random.Random(2)
    kills = 0
    for round_ in range(6):
        procs = {d: dep.remote_background(f"dept-{d}", "approve", "--department", d, "--key", "key.pem", "--all", "--json")
                 for d in DEPARTMENTS}
        if round_ < 3:
            time.sleep(rng.uniform(0.2, 0.8))
            dep.server.kill()
            kills += 1
        codes = []
        for d, p in procs.items():
            out, _ = p.communicate(timeout=300)
            codes.append(p.returncode)
            for r in json_lines(out):
                if "id" not in r and "input" not in r:
                    continue  # the run's own failure (the server went away), not an item
                sent += 1
                if r.get("state") in ("approved", "issued") or r.get("decision"):
                    told.add((r["id"], d))
                elif r.get("errors"):
                    refused_codes[r["errors"][0]["code"]] += 1
        if round_ < 3:
            dep.server = dep.server.restart()
        elif all(c in (0, 1) for c in codes):
            break
    decisions = dep.stored_decisions()
    with dep.db() as c:
        ids = {f"A{r[0]:06d}": r[0] for r in c.execute("SELECT id FROM application")}
    lost = len([1 for (app, d) in told if decisions.get((ids.get(app), d), 0) == 0])
    duplicated = sum(n - 1 for n in decisions.values() if n > 1) + sum(n - 1 for n in dep.permits_per_application().values() if n > 1)
    serials = dep.serials()
    gap = "" if serials == list(range(1, len(serials) + 1)) else " SERIAL GAP"
    row = Row("SIGKILL during batch approve (×3), departments retry", store, sent, sum(decisions.values()),
              sum(refused_codes.values()), lost, duplicated, dep.audit(),
              f"{kills} kills; {len(serials)} permits, serials gap-free{gap}; refusals {dict(refused_codes)}")
    dep.stop()
    return row


def full_disk(permit, work, store):
    """The data directory on a small tmpfs: requests fail with store.full, nothing half-written, and
    the server recovers once there is space again."""
    os.makedirs(work)
    mount = os.path.join(work, "disk")
    os.makedirs(mount)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_KIB}k", "tmpfs", mount], check=True)
    try:
        dep = Deployment(permit, work, firms=3, copies=8, data_parent=mount)
        sent, accepted, full, other = 0, 0, 0, collections.Counter()
        told = set()
        for firm in dep.firms:
            r = dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
            for item in json_lines(r.stdout):
                sent += 1
                if item.get("state") == "pending":
                    accepted += 1
                    told.add((firm, item["reference"]))
                elif item.get("errors"):
                    code = item["errors"][0]["code"]
                    full += code == "store.full"
                    other[code] += code != "store.full"
            if r.returncode == 2:  # refused whole: count it as refused too
                sent += 1
                full += "store.full" in r.stderr or "full" in r.stderr
        stored = dep.stored_references()
        lost = len([t for t in told if stored.get(t, 0) == 0])
        duplicated = sum(n - 1 for n in stored.values() if n > 1)
        # Half-written: an application without its required departments.
        with dep.db() as c:
            orphans = c.execute("SELECT COUNT(*) FROM application a WHERE NOT EXISTS "
                                "(SELECT 1 FROM requiredDepartment r WHERE r.applicationID = a.id)").fetchone()[0]
        subprocess.run(["mount", "-o", "remount,size=64m", mount], check=True)
        again = dep.remote(f"firm-{dep.firms[-1]}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
        recovered = again.returncode in (0, 1) and all(i.get("state") == "pending" or
                                                       (i.get("errors") or [{}])[0].get("code") != "store.full"
                                                       for i in json_lines(again.stdout))
        row = Row(f"disk full under the store ({DISK_KIB} KiB tmpfs), then space again", store, sent, accepted, full + sum(other.values()),
                  lost, duplicated + orphans, dep.audit(),
                  f"store.full {full}, other refusals {dict(other)}; half-written {orphans}; recovered {'yes' if recovered else 'NO'}")
        dep.stop()
        return row
    finally:
        subprocess.run(["umount", "-l", mount])


def clocks(permit, work, store):
    """Client clocks ten minutes off, and a jump of the server's clock."""
    dep = Deployment(permit, work, firms=1)
    firm = dep.firms[0]
    sent = refused = accepted = 0
    reasons = collections.Counter()
    for offset in ("2026-11-30T09:10:00+08:00", "2026-11-30T08:50:00+08:00"):
        r = dep.remote(f"firm-{firm}", "list", "--key", "key.pem", now=offset)
        sent += 1
        if r.returncode == 2:
            refused += 1
            reasons[r.stderr.strip()[:70]] += 1
    # The server's clock jumps a day ahead: every client signature is now expired; then it comes back.
    dep.server = dep.server.restart(env=dict(dep.env, PERMIT_NOW="2026-12-01T09:00:00+08:00"))
    r = dep.remote(f"firm-{firm}", "list", "--key", "key.pem")
    sent += 1
    refused += r.returncode == 2
    reasons[r.stderr.strip()[:60]] += 1
    dep.server = dep.server.restart(env=dep.env)
    r = dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
    items = json_lines(r.stdout)
    sent += len(items)
    accepted += sum(1 for i in items if i.get("state") == "pending")
    stored = dep.stored_references()
    row = Row("client clocks ±10 min; server clock +1 day, then back", store, sent, accepted, refused, 0,
              sum(n - 1 for n in stored.values() if n > 1), dep.audit(), "; ".join(sorted(reasons)))
    dep.stop()
    return row


def raw_http(port, data, timeout=10):
    """Sends bytes as they are and returns the status line's code (None when the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:  # a server that answers early (413) stops reading: the rest of a large body may not go
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            pass
    reply = b"".join(chunks)
    if not reply.startswith(b"HTTP/1.1 "):
        return None, reply
    return int(reply[9:12]), reply


def malformed(permit, work, store):
    """Malformed HTTP and bodies, signed and unsigned: each a 4xx problem+json, never a 5xx."""
    httpsig = load_httpsig()
    dep = Deployment(permit, work, firms=1)
    firm = dep.firms[0]
    key = os.path.join(dep.party(f"firm-{firm}"), "key.pem")
    host = f"127.0.0.1:{dep.server.port}"
    path = "/v1/authorities/330114/applications"

    def signed(body, content_type="application/json", method="POST", p=path):
        headers = httpsig.signed_headers(method, dep.server.url + p, key, NOW_UNIX, body, content_type)
        head = f"{method} {p} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"{n}: {v}\r\n" for n, v in headers)
        return head.encode() + b"\r\n" + body

    def unsigned(method, p, body=b"", headers=()):
        head = f"{method} {p} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"{n}: {v}\r\n" for n, v in headers)
        return head.encode() + b"\r\n" + body

    cases = [
        ("truncated body (Content-Length 1000, 10 sent)", unsigned("POST", "/v1/verify", b"FP1:ABCDEF", [("Content-Type", "text/plain")])
         .replace(b"Content-Length: 10", b"Content-Length: 1000")),
        ("oversized body (9 MiB)", unsigned("POST", "/v1/verify", b"x" * (9 << 20), [("Content-Type", "text/plain")])),
        ("wrong content type", unsigned("POST", "/v1/verify", b"{}", [("Content-Type", "application/x-www-form-urlencoded")])),
        ("a request line that is not HTTP", b"HELLO / WORLD\r\n\r\n"),
        ("a header without a colon", b"GET /healthz HTTP/1.1\r\nHost " + host.encode() + b"\r\n\r\n"),
        ("signed: invalid UTF-8", signed(b'{"items": ["\xff\xfe"]}')),
        ("signed: JSON nested a million deep", signed(b"[" * 1_000_000)),
        ("signed: a 6 MiB string", signed(b'{"items": [], "dryRun": "' + b"x" * (6 << 20) + b'"}')),
        ("signed: duplicate keys", signed(b'{"items": [], "items": []}')),
        ("signed: NUL bytes", signed(b'{"items": [\x00]}')),
        ("signed: truncated JSON", signed(b'{"items": [{"index": 0, "submi')),
        ("signed: the wrong content type", signed(b"a,b\r\n", "text/csv")),
        ("signed: a COSE body that is not COSE", signed(b"\x00\x01\x02", "application/cose", p="/v1/authorities/330114/cancellations")),
    ]
    sent = answered4xx = closed = five = 0
    notes = []
    for name, raw in cases:
        sent += 1
        status, reply = raw_http(dep.server.port, raw)
        if status is None:
            closed += 1
        elif 400 <= status < 500:
            answered4xx += 1
            if b"application/problem+json" not in reply.split(b"\r\n\r\n", 1)[0]:
                notes.append(f"{name}: {status} without problem+json")
        else:
            five += status >= 500
            notes.append(f"{name}: {status}")
    # CSV with a BOM and CRLF line ends, through the CLI (which reads the file and signs each item).
    csv_file = os.path.join(dep.party(f"firm-{firm}"), "bom.csv")
    r = subprocess.run([permit, "apply", "--key", key, os.path.join(ROOT, "examples", "applications.csv"), "--dry-run", "--json",
                        "--server", dep.server.url], env=dep.env, capture_output=True, text=True)
    with open(os.path.join(ROOT, "examples", "applications.csv"), "rb") as f:
        csv = f.read()
    with open(csv_file, "wb") as f:
        f.write(b"\xef\xbb\xbf" + csv.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    bom = subprocess.run([permit, "apply", "--key", key, csv_file, "--dry-run", "--json", "--server", dep.server.url],
                         env=dep.env, capture_output=True, text=True)
    sent += 1
    same = [i.get("state") or i["errors"][0]["code"] for i in json_lines(r.stdout)] == \
           [i.get("state") or i["errors"][0]["code"] for i in json_lines(bom.stdout)]
    notes.append(f"CSV with BOM+CRLF read as the plain CSV: {'yes' if same and bom.returncode in (0, 1) else 'NO'}")
    alive = urllib.request.urlopen(dep.server.url + "/healthz", timeout=5).status == 200
    notes.append(f"closed without an answer: {closed} (the truncated body); server alive after: {'yes' if alive else 'NO'}")
    stored = dep.stored_references()
    row = Row("malformed HTTP and bodies (signed and not)", store, sent, 0, answered4xx + closed + (1 if same else 0), 0,
              sum(stored.values()), dep.audit(), "; ".join(notes) + (f"; 5xx {five}" if five else ""))
    dep.stop()
    return row, five == 0 and alive


def one_decision(permit, work, store):
    """The same department approves the same application from two machines at once."""
    dep = Deployment(permit, work, firms=1)
    firm = dep.firms[0]
    applied = json_lines(dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json").stdout)
    pending = [a for a in applied if a.get("state") == "pending"][:20]
    for machine in ("one", "two"):
        for d in DEPARTMENTS:
            os.makedirs(dep.party(f"dept-{d}-{machine}"), exist_ok=True)
            shutil.copy(os.path.join(dep.party(f"dept-{d}"), "key.pem"), dep.party(f"dept-{d}-{machine}"))
    sent = accepted = told_decided = 0
    for app in pending:
        d = app["departments"][0]
        results = []

        def run(machine):
            results.append(dep.remote(f"dept-{d}-{machine}", "approve", "--department", d, "--key", "key.pem", app["id"], "--json"))
        threads = [threading.Thread(target=run, args=(m,)) for m in ("one", "two")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        for r in results:
            sent += 1
            item = (json_lines(r.stdout) or [{}])[0]
            if item.get("errors"):
                told_decided += item["errors"][0]["code"] in ("decision.alreadyDecided", "application.notPending")
            elif item.get("state"):
                accepted += 1
    decisions = dep.stored_decisions()
    duplicated = sum(n - 1 for n in decisions.values() if n > 1) + sum(n - 1 for n in dep.permits_per_application().values() if n > 1)
    row = Row("two machines, one decision (×%d)" % len(pending), store, sent, accepted, told_decided,
              len(pending) - accepted, duplicated, dep.audit(), f"each pair: one recorded, the other told it is already decided")
    dep.stop()
    return row


def restore_drill(permit, work, store):
    """A backup restored into a fresh directory: audit verify passes, and the next revocation list
    continues above the last one published."""
    dep = Deployment(permit, work, firms=1)
    firm = dep.firms[0]
    dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
    for d in DEPARTMENTS:
        dep.remote(f"dept-{d}", "approve", "--department", d, "--key", "key.pem", "--all", "--json")
    issued = [a["permitNumber"] for a in json.loads(dep.local("list", "--state", "issued", "--all", "--json").stdout)]
    dep.local("revoke", issued[0], "--reason", "演练", "--admin-key", dep.admin)
    published = json.loads(dep.local("revocations", "export", "--json").stdout)["sequence"]
    backup = os.path.join(work, "backup.sqlite")
    dep.local("backup", "--output", backup)
    dep.stop()
    restored = os.path.join(work, "restored")
    shutil.copytree(dep.data, restored, ignore=shutil.ignore_patterns("permit.sqlite*"))
    shutil.copy(backup, os.path.join(restored, "permit.sqlite"))
    env = dict(dep.env)
    audit = subprocess.run([permit, "audit", "verify", "--data-dir", restored], env=env, capture_output=True, text=True)
    again = subprocess.run([permit, "revocations", "export", "--json", "--data-dir", restored], env=env, capture_output=True, text=True)
    sequence = json.loads(again.stdout)["sequence"] if again.returncode == 0 else -1
    ok = audit.returncode == 0 and sequence > published
    return Row("backup, restore, audit verify, next revocation list", store, 1, 1 if ok else 0, 0, 0 if ok else 1, 0,
               "OK" if audit.returncode == 0 else "FAILED", f"published #{published}, after the restore #{sequence}")


FAULTS = {
    "crash-apply": crash_during_apply,
    "crash-approve": crash_during_approve,
    "disk-full": full_disk,
    "clocks": clocks,
    "malformed": malformed,
    "one-decision": one_decision,
    "restore": restore_drill,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("permit")
    parser.add_argument("--store", default="sqlite", choices=["sqlite"])
    parser.add_argument("--only", nargs="*", choices=sorted(FAULTS))
    args = parser.parse_args()
    args.permit = os.path.abspath(args.permit)
    rows, healthy = [], True
    top = tempfile.mkdtemp(prefix="permit-chaos-")
    try:
        for name in args.only or FAULTS:
            if time.monotonic() > DEADLINE:
                print(f"chaos: time is up before {name}", file=sys.stderr)
                healthy = False
                break
            started = time.monotonic()
            result = FAULTS[name](args.permit, os.path.join(top, name), args.store)
            if not isinstance(result, Row):
                result, fine = result
                healthy = healthy and fine
            rows.append(result)
            print(f"chaos: {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        subprocess.run(["pkill", "-f", f"--data-dir {top}"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
    print("| fault | store | sent | accepted | refused (clear error) | lost | duplicated | audit verify | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.fault} | {r.store} | {r.sent} | {r.accepted} | {r.refused} | {r.lost} | {r.duplicated} | {r.audit} | {r.note} |")
    bad = [r for r in rows if r.lost or r.duplicated or r.audit != "OK"]
    if bad or not healthy:
        print(f"chaos: FAILED ({len(bad)} rows lost, duplicated or failed the audit)", file=sys.stderr)
        sys.exit(1)
    print(f"chaos: {len(rows)} faults, nothing lost, nothing duplicated, audit OK")


if __name__ == "__main__":
    main()
