#!/usr/bin/env python3
"""Faults against `permit serve`, on loopback, bounded in requests and time (scripts/chaos).

Each fault runs on each store: the data directory's SQLite file, and a PostgreSQL database
(`permit init --database URL`, `permit serve --database URL`) on a throwaway cluster that this
script starts itself (initdb into a temporary directory, pg_ctl as the `postgres` user, a unix
socket and no TCP port, fsync off) and stops at the end however it ends. Each fault has a
deployment of its own: a data directory (and database) made with the CLI, the ten departments'
approvers and the example firms registered, each party working from a directory holding only its
own key, through `permit … --server`. After each fault the store is read directly (sqlite3, or
psql) and held to what the clients were told:

    sent        requests (or batch items) the clients sent
    accepted    items the server accepted (an application stored, a decision recorded)
    refused     items refused with a clear error (a problem code the client printed)
    lost        items a client was told were accepted that the store does not hold (must be 0)
    duplicated  items the store holds more than once, or half-written (must be 0)
    audit       `permit audit verify` on the data directory (and database) afterwards

PostgreSQL has faults of its own: the cluster SIGKILLed (postmaster and backends) and started
again mid-load, `pg_ctl restart -m fast` mid-load, the connection limit reached (the server can
get no connection: each request a 503 `store.busy` or a success), a full tablespace (`store.full`),
and the restore drill runs pg_dump and pg_restore.

    chaos.py PERMIT-BINARY [--store sqlite|postgres|both] [--only NAME…]

Prints one table row per fault and store and exits 1 if any row lost or duplicated anything, saw
a 5xx other than a clear 503/507, or failed its audit. Every fault has a time bound of its own
(FAULT_SECONDS), the whole run one (RUN_SECONDS); whatever the run started (servers, clients, the
cluster, tmpfs mounts) is stopped at the end, also by a watchdog process if this one is killed.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from permitdeploy import (DEPARTMENTS, NOW_UNIX, PROCESSES, ROOT, Cluster, Deployment, Store, database_name,
                          json_lines, load_httpsig)

DISK_KIB = 1500
RUN_SECONDS = 19 * 60  # the whole run stops by itself
FAULT_SECONDS = 150  # and each fault
STARTED = time.monotonic()
PG_ROLE = "permit"  # the servers' role: not a superuser, so that a connection limit applies to it
CLEAR_CODES = ("store.busy", "store.full", "store.io", "server.unreachable")


class FaultTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise FaultTimeout()


def server_statuses(dep):
    """The statuses the server answered, from its request log: Counter of status codes."""
    with open(dep.server.log_path, errors="replace") as f:
        return collections.Counter(int(m.group(1)) for m in re.finditer(r" status=(\d{3}) ", f.read()))


def server_slow(dep, over_ms=500):
    """Requests the server took more than `over_ms` to answer (they waited out an outage), and the longest."""
    with open(dep.server.log_path, errors="replace") as f:
        times = [float(m.group(1)) for m in re.finditer(r" duration_ms=([0-9.]+)", f.read())]
    return sum(1 for t in times if t > over_ms), max(times, default=0) / 1000


def run_error(out, err):
    """The problem code of a run that failed whole (exit 2): `{"errors": [...]}` on standard output
    with --json, else the first words of standard error."""
    for item in json_lines(out):
        if "errors" in item and "id" not in item and "reference" not in item and "input" not in item:
            return item["errors"][0].get("code", "?")
    return (err.strip().splitlines() or ["no output"])[-1][:80]


Row = collections.namedtuple("Row", "fault store sent accepted refused lost duplicated audit note seconds")


def row(fault, store, sent, accepted, refused, lost, duplicated, audit, note):
    return Row(fault, str(store), sent, accepted, refused, lost, duplicated, audit, note, 0.0)


def crash_during_apply(permit, work, store):
    """SIGKILL the server at several points during a firm's batch apply; restart; the firm retries."""
    dep = Deployment(permit, work, store, firms=2, copies=6)
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
        out, err = proc.communicate(timeout=120)
        for r in json_lines(out):
            if r.get("state") in ("pending", "issued"):
                told_accepted.add(r["reference"])
            elif r.get("errors") and r.get("reference"):
                refused[r.get("reference")] = r["errors"][0]["code"]
        if attempt < 3:
            dep.server = dep.server.restart()
        elif proc.returncode in (0, 1):
            break
    stored = dep.stored_references()
    mine = {ref: n for (code, ref), n in stored.items() if code == firm}
    lost = len([r for r in told_accepted if r not in mine])
    duplicated = sum(n - 1 for n in mine.values() if n > 1) + len([r for r in mine if r not in refs]) + dep.half_written()
    not_stored = [r for r in refs if r not in mine]
    unexplained = [r for r in not_stored if r not in refused]
    result = row("SIGKILL of the server during batch apply (×3), clients retry", store, len(refs), len(mine),
                 len(not_stored) - len(unexplained), lost, duplicated, dep.audit(),
                 f"{kills} kills" + (f"; {len(unexplained)} neither stored nor refused" if unexplained else ""))
    dep.stop()
    return result


def crash_during_approve(permit, work, store):
    """SIGKILL the server during the departments' batch approvals; restart; each department retries."""
    dep = Deployment(permit, work, store, firms=2, copies=4)
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
            out, _ = p.communicate(timeout=120)
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
    ids = dep.application_ids()
    lost = len([1 for (app, d) in told if decisions.get((ids.get(app), d), 0) == 0])
    duplicated = sum(n - 1 for n in decisions.values() if n > 1) + sum(n - 1 for n in dep.permits_per_application().values() if n > 1)
    serials = dep.serials()
    gap = "" if serials == list(range(1, len(serials) + 1)) else " SERIAL GAP"
    result = row("SIGKILL of the server during batch approve (×3), departments retry", store, sent, sum(decisions.values()),
                 sum(refused_codes.values()), lost + (1 if gap else 0), duplicated + dep.half_written(), dep.audit(),
                 f"{kills} kills; {len(serials)} permits, serials gap-free{gap}; refusals {dict(refused_codes)}")
    dep.stop()
    return result


def mount_tmpfs(path, kib, owner=None):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0700", "tmpfs", path], check=True)
    MOUNTS.append(path)
    if PROCESSES.file:  # for the watchdog
        with open(os.path.join(os.path.dirname(PROCESSES.file), "mounts"), "a") as f:
            f.write(path + "\n")
    if owner:
        shutil.chown(path, owner, owner)


def unmount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)
    if path in MOUNTS:
        MOUNTS.remove(path)


MOUNTS = []


def apply_until_full(dep):
    """Every firm applies its whole file once; returns (sent, accepted, store.full, other refusals, told)."""
    sent, accepted, full, other = 0, 0, 0, collections.Counter()
    told = set()
    for firm in dep.firms:
        r = dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
        for item in json_lines(r.stdout):
            if "reference" not in item and "index" not in item:
                continue
            sent += 1
            if item.get("state") == "pending":
                accepted += 1
                told.add((firm, item["reference"]))
            elif item.get("errors"):
                code = item["errors"][0]["code"]
                if code == "store.full":
                    full += 1
                else:
                    other[code] += 1
        if r.returncode == 2:  # a request refused whole (507 store.full): count it as refused too
            sent += 1
            code = run_error(r.stdout, r.stderr)
            if code == "store.full":
                full += 1
            else:
                other[code] += 1
    return sent, accepted, full, other, told


def full_disk(permit, work, store):
    """SQLite: the data directory on a small tmpfs. PostgreSQL: the database in a tablespace on a
    small tmpfs. Requests fail with store.full (507), nothing half-written, and the server
    recovers once there is space again."""
    os.makedirs(work)
    if store.kind == "sqlite":
        mount = os.path.join(work, "disk")
        mount_tmpfs(mount, DISK_KIB)
    else:
        # The postgres user must reach the tablespace: under the cluster's directory.
        mount = os.path.join(store.cluster.dir, "disk")
        mount_tmpfs(mount, 64 * 1024, owner="postgres")
        location = os.path.join(mount, "ts")
        os.makedirs(location)
        shutil.chown(location, "postgres", "postgres")
        store.cluster.psql("postgres", f"CREATE TABLESPACE chaos_small OWNER {PG_ROLE} LOCATION '{location}'")
    try:
        dep = Deployment(permit, work, store, firms=3, copies=8, data_parent=mount if store.kind == "sqlite" else None,
                         tablespace="chaos_small" if store.kind == "postgres" else None)
        if store.kind == "postgres":
            # Now leave DISK_KIB above what the database (copied from template1, then set up) holds.
            used = int(subprocess.run(["df", "--output=used", "-k", mount], capture_output=True, text=True).stdout.split()[-1])
            subprocess.run(["mount", "-o", f"remount,size={used + DISK_KIB}k", mount], check=True)
        sent, accepted, full, other, told = apply_until_full(dep)
        statuses = server_statuses(dep)
        # Space again, before the store is read: with the disk full, PostgreSQL can refuse a new
        # connection itself ("could not write init file"), psql's among them. Nothing writes meanwhile.
        subprocess.run(["mount", "-o", "remount,size=256m", mount], check=True)
        stored = dep.stored_references()
        lost = len([t for t in told if stored.get(t, 0) == 0])
        duplicated = sum(n - 1 for n in stored.values() if n > 1)
        orphans = dep.half_written()
        again = dep.remote(f"firm-{dep.firms[-1]}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
        recovered = again.returncode in (0, 1) and all(i.get("state") == "pending" or
                                                       (i.get("errors") or [{}])[0].get("code") not in ("store.full", "store.io")
                                                       for i in json_lines(again.stdout))
        bad = sum(n for s, n in statuses.items() if s >= 500 and s not in (503, 507))
        size = f"{DISK_KIB} KiB tmpfs" if store.kind == "sqlite" else f"a tablespace with {DISK_KIB} KiB free on a tmpfs"
        result = row(f"disk full under the store ({size}), then space again", store, sent, accepted, full + sum(other.values()),
                     lost, duplicated + orphans, dep.audit(),
                     f"store.full {full}, other refusals {dict(other)}; half-written {orphans}; server 507s {statuses.get(507, 0)}"
                     f"{f', OTHER 5xx {bad}' if bad else ''}; recovered {'yes' if recovered else 'NO'}")
        dep.stop()
        return result, recovered and not bad and full > 0
    finally:
        if store.kind == "postgres":  # nothing of the cluster's left on the tmpfs before it goes
            store.cluster.psql("postgres", f"DROP DATABASE IF EXISTS {database_name(work)} WITH (FORCE)", check=False)
            store.cluster.psql("postgres", "DROP TABLESPACE IF EXISTS chaos_small", check=False)
        unmount(mount)


def clocks(permit, work, store):
    """Client clocks ten minutes off, and a jump of the server's clock."""
    dep = Deployment(permit, work, store, firms=1)
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
    result = row("client clocks ±10 min; server clock +1 day, then back", store, sent, accepted, refused, 0,
                 sum(n - 1 for n in stored.values() if n > 1), dep.audit(), "; ".join(sorted(reasons)))
    dep.stop()
    return result


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
    dep = Deployment(permit, work, store, firms=1)
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
    sent = answered4xx = closed = five = bare = 0
    notes = []
    for name, raw in cases:
        sent += 1
        status, reply = raw_http(dep.server.port, raw)
        if status is None:
            closed += 1
        elif 400 <= status < 500:
            answered4xx += 1
            if b"application/problem+json" not in reply.split(b"\r\n\r\n", 1)[0]:
                bare += 1
                notes.append(f"{name}: {status} WITHOUT problem+json")
        else:
            five += status >= 500
            notes.append(f"{name}: {status}")
    # CSV with a BOM and CRLF line ends, through the CLI (which reads the file and signs each item).
    csv_file = os.path.join(dep.party(f"firm-{firm}"), "bom.csv")
    r = subprocess.run([permit, "apply", "--key", key, os.path.join(ROOT, "examples", "applications.csv"), "--dry-run", "--json",
                        "--server", dep.server.url], env=dep.env, capture_output=True, text=True, timeout=120)
    with open(os.path.join(ROOT, "examples", "applications.csv"), "rb") as f:
        csv = f.read()
    with open(csv_file, "wb") as f:
        f.write(b"\xef\xbb\xbf" + csv.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    bom = subprocess.run([permit, "apply", "--key", key, csv_file, "--dry-run", "--json", "--server", dep.server.url],
                         env=dep.env, capture_output=True, text=True, timeout=120)
    sent += 1
    same = [i.get("state") or i["errors"][0]["code"] for i in json_lines(r.stdout)] == \
           [i.get("state") or i["errors"][0]["code"] for i in json_lines(bom.stdout)]
    notes.append(f"CSV with BOM+CRLF read as the plain CSV: {'yes' if same and bom.returncode in (0, 1) else 'NO'}")
    alive = urllib.request.urlopen(dep.server.url + "/healthz", timeout=5).status == 200
    notes.append(f"every 4xx problem+json: {'yes' if not bare else 'NO'}; closed without an answer: {closed} (the truncated body); server alive after: {'yes' if alive else 'NO'}")
    stored = dep.stored_references()
    result = row("malformed HTTP and bodies (signed and not)", store, sent, 0, answered4xx + closed + (1 if same else 0), 0,
                 sum(stored.values()), dep.audit(), "; ".join(notes) + (f"; 5xx {five}" if five else ""))
    dep.stop()
    return result, five == 0 and alive and bare == 0


def one_decision(permit, work, store):
    """The same department approves the same application from two machines at once."""
    dep = Deployment(permit, work, store, firms=1)
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
    result = row("two machines, one decision (×%d)" % len(pending), store, sent, accepted, told_decided,
                 len(pending) - accepted, duplicated, dep.audit(), "each pair: one recorded, the other told it is already decided")
    dep.stop()
    return result


def restore_drill(permit, work, store):
    """A backup restored: audit verify passes, and the next revocation list continues above the
    last one published (one more list is published after the backup, so the restored counter is
    behind it). SQLite: `permit backup` into a fresh directory. PostgreSQL: the README's pg_dump /
    pg_restore procedure into the same database name, dropped and created again; the audit trail's
    triggers must come back with it (an UPDATE and a DELETE of `audit` are refused afterwards)."""
    dep = Deployment(permit, work, store, firms=1)
    firm = dep.firms[0]
    dep.remote(f"firm-{firm}", "apply", "--key", "key.pem", "applications.jsonl", "--json")
    for d in DEPARTMENTS:
        dep.remote(f"dept-{d}", "approve", "--department", d, "--key", "key.pem", "--all", "--json")
    issued = [a["permitNumber"] for a in json.loads(dep.local("list", "--state", "issued", "--all", "--json").stdout)]
    dep.local("revoke", issued[0], "--reason", "演练", "--admin-key", dep.admin)
    first = json.loads(dep.local("revocations", "export", "--json").stdout)["sequence"]
    env = dict(dep.env)
    notes = []
    if store.kind == "sqlite":
        backup = os.path.join(work, "backup.sqlite")
        dep.local("backup", "--output", backup)
        published = json.loads(dep.local("revocations", "export", "--json").stdout)["sequence"]
        dep.stop()
        restored = os.path.join(work, "restored")
        shutil.copytree(dep.data, restored, ignore=shutil.ignore_patterns("permit.sqlite*"))
        shutil.copy(backup, os.path.join(restored, "permit.sqlite"))
        audit = subprocess.run([permit, "audit", "verify", "--data-dir", restored], env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run([permit, "revocations", "export", "--json", "--data-dir", restored], env=env,
                               capture_output=True, text=True, timeout=120)
        triggers_hold = True
    else:
        cluster = store.cluster
        dump = os.path.join(work, "permits.dump")
        # The README's procedure: pg_dump's custom format, one consistent snapshot of the live database.
        subprocess.run([f"{cluster.bin}/pg_dump", "-h", cluster.dir, "-U", "postgres", "-Fc", "-f", dump, dep.dbname],
                       check=True, capture_output=True, timeout=120)
        published = json.loads(dep.local("revocations", "export", "--json").stdout)["sequence"]
        dep.stop()
        cluster.psql("postgres", f"DROP DATABASE {dep.dbname} WITH (FORCE)")
        cluster.psql("postgres", f"CREATE DATABASE {dep.dbname} OWNER {PG_ROLE}")
        r = subprocess.run([f"{cluster.bin}/pg_restore", "-h", cluster.dir, "-U", "postgres", "--exit-on-error", "--single-transaction",
                            "-d", dep.dbname, dump], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            notes.append(f"pg_restore exit {r.returncode}: {r.stderr.strip()[-120:]}")
        args = ["--data-dir", dep.data, "--database", dep.database]
        audit = subprocess.run([permit, "audit", "verify", *args], env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run([permit, "revocations", "export", "--json", *args], env=env, capture_output=True, text=True, timeout=120)
        # The append-only triggers came back with the dump: the server's role cannot change the trail.
        triggers = int(dep.rows("SELECT COUNT(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname IN "
                                "('audit_no_update', 'audit_no_delete', 'audit_no_truncate', 'signedrequest_no_update')")[0][0])
        update = cluster.psql(dep.dbname, "UPDATE audit SET actor = 'forged' WHERE seq = 1", user=PG_ROLE, check=False)
        delete = cluster.psql(dep.dbname, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)", user=PG_ROLE, check=False)
        triggers_hold = (triggers == 4 and update.returncode != 0 and "append-only" in update.stderr
                         and delete.returncode != 0 and "append-only" in delete.stderr)
        notes.append(f"pg_dump -Fc, DROP/CREATE DATABASE, pg_restore --single-transaction; {triggers} of 4 triggers restored, "
                     f"UPDATE audit {'refused' if update.returncode else 'ALLOWED'}, DELETE audit {'refused' if delete.returncode else 'ALLOWED'}")
    sequence = json.loads(again.stdout)["sequence"] if again.returncode == 0 else -1
    ok = audit.returncode == 0 and sequence > published and triggers_hold
    notes.insert(0, f"published #{first}, backup, then #{published}; after the restore #{sequence}")
    return row("backup, restore, audit verify, next revocation list", store, 1, 1 if ok else 0, 0, 0 if ok else 1, 0,
               "OK" if audit.returncode == 0 else f"FAILED: {(audit.stdout + audit.stderr).strip()[-160:]}", "; ".join(notes))


# PostgreSQL's own faults.

LOADS = []  # stopped when a fault ends, however it ends


class Load:
    """Firms applying and departments approving at once, each client run again until it ends
    well (exit 0 or 1), as an operator's retry loop would; tallies what each run was told."""

    def __init__(self, dep):
        self.dep = dep
        self.lock = threading.Lock()
        self.told_applications, self.told_decisions = set(), set()
        self.items = self.runs = 0
        self.item_refusals = collections.Counter()
        self.run_failures = collections.Counter()  # runs that failed whole (exit 2), by problem code
        self.stop = threading.Event()
        self.threads = []
        LOADS.append(self)

    def client(self, party, argv, record):
        """Runs one client again and again: a firm until a run ends well with no item refused by
        the store (sending a batch again is safe), a department until the load settles."""
        while not self.stop.is_set():
            p = self.dep.remote_background(party, *argv)
            out, err = p.communicate(timeout=120)
            store_refused = False
            with self.lock:
                self.runs += 1
                for item in json_lines(out):
                    if "errors" in item and "id" not in item and "reference" not in item and "input" not in item:
                        continue
                    self.items += 1
                    if item.get("errors"):
                        code = item["errors"][0]["code"]
                        self.item_refusals[code] += 1
                        store_refused = store_refused or code.startswith("store.")
                    else:
                        record(item)
                if p.returncode == 2:
                    self.run_failures[run_error(out, err)] += 1
            if p.returncode in (0, 1) and not store_refused and self.quiet(party):
                return
            time.sleep(0.2)

    def quiet(self, party):
        return party.startswith("firm-") or self.stop.is_set() or self.settling.is_set()

    def start(self):
        self.settling = threading.Event()
        for firm in self.dep.firms:
            self.threads.append(threading.Thread(target=self.client, daemon=True, args=(
                f"firm-{firm}", ["apply", "--key", "key.pem", "applications.jsonl", "--json"],
                lambda item, firm=firm: item.get("state") in ("pending", "issued") and self.told_applications.add((firm, item["reference"])))))
        for d in DEPARTMENTS:
            self.threads.append(threading.Thread(target=self.client, daemon=True, args=(
                f"dept-{d}", ["approve", "--department", d, "--key", "key.pem", "--all", "--json"],
                lambda item, d=d: (item.get("state") in ("approved", "issued") or item.get("decision")) and self.told_decisions.add((item["id"], d)))))
        for t in self.threads:
            t.start()

    def finish(self, seconds=60):
        """Lets every client end; then each department approves until its queue is empty."""
        self.settling.set()
        for t in self.threads:
            t.join(timeout=seconds)
        for _ in range(3):
            for d in DEPARTMENTS:
                p = self.dep.remote(f"dept-{d}", "approve", "--department", d, "--key", "key.pem", "--all", "--json")
                with self.lock:
                    for item in json_lines(p.stdout):
                        if item.get("id") and not item.get("errors"):
                            self.items += 1
                            self.told_decisions.add((item["id"], d))
                    if p.returncode == 2:
                        self.run_failures[run_error(p.stdout, p.stderr)] += 1

    def judge(self, fault, store, note):
        dep = self.dep
        stored = dep.stored_references()
        decisions = dep.stored_decisions()
        ids = dep.application_ids()
        lost = len([t for t in self.told_applications if stored.get(t, 0) == 0])
        lost += len([1 for (app, d) in self.told_decisions if decisions.get((ids.get(app), d), 0) == 0])
        duplicated = (sum(n - 1 for n in stored.values() if n > 1) + sum(n - 1 for n in decisions.values() if n > 1)
                      + sum(n - 1 for n in dep.permits_per_application().values() if n > 1))
        serials = dep.serials()
        gap = serials != list(range(1, len(serials) + 1))
        pending = int(dep.rows("SELECT COUNT(*) FROM application WHERE state = 'pending'")[0][0])
        statuses = server_statuses(dep)
        bad = {s: n for s, n in statuses.items() if s >= 500 and s != 503}
        unclear = {c: n for c, n in self.run_failures.items() if c not in CLEAR_CODES}
        refused = sum(self.item_refusals.values()) + sum(self.run_failures.values())
        result = row(fault, store, self.items + sum(self.run_failures.values()), len(stored) + sum(decisions.values()), refused,
                     lost + gap, duplicated + dep.half_written(), dep.audit(),
                     f"{note}; {self.runs} client runs; {len(serials)} permits, serials {'with a GAP' if gap else 'gap-free'}, {pending} left pending; "
                     f"runs refused whole {dict(self.run_failures) or 0}, items refused {dict(self.item_refusals) or 0}; "
                     f"server 503s {statuses.get(503, 0)}" + (f", OTHER 5xx {bad}" if bad else "")
                     + "; requests answered in over 0.5 s: {} (longest {:.1f} s)".format(*server_slow(dep))
                     + (f", UNCLEAR {unclear}" if unclear else ""))
        return result, not bad and not unclear and pending == 0


def postgres_down(permit, work, store, how):
    """PostgreSQL killed (SIGKILL of the postmaster and its backends) or restarted (`pg_ctl restart
    -m fast`) twice while firms apply and departments approve; the clients retry."""
    dep = Deployment(permit, work, store, firms=2, copies=3)
    cluster = store.cluster
    load = Load(dep)
    load.start()
    outages = []
    for delay in (1.5, 3.0):
        time.sleep(delay)
        began = time.monotonic()
        if how == "kill":
            cluster.kill()
            time.sleep(0.5)
            cluster.start()  # crash recovery
        else:
            cluster.restart_fast()
        outages.append(time.monotonic() - began)
    load.finish()
    what = ("SIGKILL of PostgreSQL (postmaster and backends) mid-load (×2), restart, clients retry" if how == "kill"
            else "`pg_ctl restart -m fast` mid-load (×2), clients retry")
    result = load.judge(what, store, "down " + " s, ".join(f"{o:.1f}" for o in outages) + " s")
    dep.stop()
    return result


def postgres_kill(permit, work, store):
    return postgres_down(permit, work, store, "kill")


def postgres_restart(permit, work, store):
    return postgres_down(permit, work, store, "restart")


def signed_get(httpsig, url, key, timeout=30):
    """A signed GET from Python: (status, problem code or None, seconds)."""
    headers = dict(httpsig.signed_headers("GET", url, key, NOW_UNIX))
    began = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            r.read()
            return r.status, None, time.monotonic() - began
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            code = json.loads(body).get("code") if "problem+json" in (e.headers.get("Content-Type") or "") else None
        except ValueError:
            code = None
        return e.code, code or "NOT problem+json", time.monotonic() - began
    except (OSError, urllib.error.URLError) as e:
        return None, f"no answer: {e}", time.monotonic() - began


def pool_exhausted(permit, work, store):
    """The server's role at its connection limit, the connections held by other clients (psql).
    Warm: the server's pool holds the connections it opened and can open no more; 24 clients at
    once wait their turn and succeed. Cold: the server's own connections dropped as well, so it
    can get none: each request a 503 store.busy (problem+json) within the store's connection
    wait, never another 5xx, nothing written. Then the other clients let go and it recovers."""
    httpsig = load_httpsig()
    dep = Deployment(permit, work, store, firms=2, copies=1)
    cluster = store.cluster
    firm = dep.firms[0]
    key = os.path.join(dep.party(f"firm-{firm}"), "key.pem")
    url = dep.server.url + "/v1/authorities/330114/applications?limit=5"
    holders = []
    notes = []
    answers = []  # (phase, status, code, seconds)
    applies = []  # (phase, outcome)

    def burst(phase, n, threads):
        def one():
            for _ in range(n // threads):
                status, code, s = signed_get(httpsig, url, key)
                answers.append((phase, status, code, s))
        ts = [threading.Thread(target=one) for _ in range(threads)]
        [t.start() for t in ts]
        [t.join() for t in ts]

    def apply(phase, firm_):
        try:
            r = dep.remote(f"firm-{firm_}", "apply", "--key", "key.pem", "applications.jsonl", "--json", timeout=60)
        except subprocess.TimeoutExpired:
            applies.append((phase, "NO ANSWER within 60 s"))
            return set()
        applies.append((phase, "accepted" if r.returncode in (0, 1) else run_error(r.stdout, r.stderr)))
        return {(firm_, i["reference"]) for i in json_lines(r.stdout) if i.get("state") == "pending"}

    def connections():
        return int(dep.rows(f"SELECT COUNT(*) FROM pg_stat_activity WHERE usename = '{PG_ROLE}'")[0][0])

    def summary(phase):
        mine = [(st, c, s) for p, st, c, s in answers if p == phase]
        counts = collections.Counter(f"{st} {c}" if c else str(st) for st, c, _ in mine)
        return (f"{len(mine)} signed GETs {dict(counts)}, {min(s for *_, s in mine):.1f}–{max(s for *_, s in mine):.1f} s each; "
                f"apply {', '.join(o for p, o in applies if p == phase)}")

    told = set()
    try:
        burst("start", 8, 4)  # the pool opens a few connections
        # Other clients take every connection the role has left.
        for _ in range(4):
            holders.append(PROCESSES.spawn([f"{cluster.bin}/psql", "-X", "-q", "-h", cluster.dir, "-U", PG_ROLE, "-d", dep.dbname,
                                            "-c", "SELECT pg_sleep(300)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(100):
            if int(dep.rows(f"SELECT COUNT(*) FROM pg_stat_activity WHERE usename = '{PG_ROLE}' AND application_name = 'psql'")[0][0]) >= 4:
                break
            time.sleep(0.1)
        warm_pool = connections() - 4
        cluster.psql("postgres", f"ALTER ROLE {PG_ROLE} CONNECTION LIMIT {warm_pool + 4}")
        refused = cluster.psql(dep.dbname, "SELECT 1", user=PG_ROLE, check=False)
        notes.append(f"role limit {warm_pool + 4} = {warm_pool} pooled + 4 psql; one more refused: "
                     f"{'yes' if 'too many connections' in refused.stderr else 'NO: ' + refused.stderr.strip()[:60]}")
        # Warm: 24 clients at once, more than the pool holds.
        burst("warm", 48, 24)
        told |= apply("warm", dep.firms[0])
        notes.append(f"warm: {summary('warm')}")
        # Cold: the server's connections dropped too; the limit now leaves it none.
        cluster.psql("postgres", f"ALTER ROLE {PG_ROLE} CONNECTION LIMIT 4")
        cluster.psql("postgres", f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{PG_ROLE}' "
                                 "AND application_name <> 'psql'")
        before = int(dep.rows("SELECT COUNT(*) FROM application")[0][0])
        nonces = int(dep.rows("SELECT COUNT(*) FROM requestNonce")[0][0])
        burst("cold", 16, 8)
        told |= apply("cold", dep.firms[1])
        after = int(dep.rows("SELECT COUNT(*) FROM application")[0][0])
        nonces_after = int(dep.rows("SELECT COUNT(*) FROM requestNonce")[0][0])
        notes.append(f"cold: {summary('cold')}; applications {before} → {after}, request nonces {nonces} → {nonces_after}")
        # The other clients let go: it recovers.
        for h in holders:
            h.kill()
            h.wait()
        cluster.psql("postgres", f"ALTER ROLE {PG_ROLE} CONNECTION LIMIT -1")
        time.sleep(1)
        burst("after", 8, 4)
        told |= apply("after", dep.firms[1])
        notes.append(f"after: {summary('after')}")
        stored = dep.stored_references()
        lost = len([t for t in told if stored.get(t, 0) == 0])
        ok = [a for a in answers if a[1] == 200]
        busy = [a for a in answers if a[1] == 503 and a[2] == "store.busy"]
        other = [a for a in answers if a not in ok and a not in busy]
        applied_ok = sum(1 for _, o in applies if o == "accepted")
        applied_busy = sum(1 for _, o in applies if o == "store.busy")
        statuses = server_statuses(dep)
        bad = {s: n for s, n in statuses.items() if s >= 500 and s != 503}
        if other:
            notes.append(f"NOT 200 NOR 503 store.busy: {collections.Counter((p, st, c) for p, st, c, _ in other)}")
        recovered = all(st == 200 for p, st, _, _ in answers if p == "after") and applies[-1][1] == "accepted"
        result = row("connection limit reached (4 psql hold the rest): the pool's own connections only (warm), then none (cold)", store,
                     len(answers) + len(applies), len(ok) + applied_ok, len(busy) + applied_busy, lost,
                     sum(n - 1 for n in stored.values() if n > 1) + dep.half_written() + (after - before) + (nonces_after - nonces),
                     dep.audit(), "; ".join(notes) + f"; recovered {'yes' if recovered else 'NO'}" + (f"; server OTHER 5xx {bad}" if bad else ""))
        dep.stop()
        return result, not other and not bad and recovered and all(o in ("accepted", "store.busy") for _, o in applies)
    finally:
        for h in holders:
            if h.poll() is None:
                h.kill()
        cluster.psql("postgres", f"ALTER ROLE {PG_ROLE} CONNECTION LIMIT -1", check=False)


FAULTS = {
    "crash-apply": (crash_during_apply, ("sqlite", "postgres")),
    "crash-approve": (crash_during_approve, ("sqlite", "postgres")),
    "disk-full": (full_disk, ("sqlite", "postgres")),
    "clocks": (clocks, ("sqlite", "postgres")),
    "malformed": (malformed, ("sqlite", "postgres")),
    "one-decision": (one_decision, ("sqlite", "postgres")),
    "restore": (restore_drill, ("sqlite", "postgres")),
    "pg-kill": (postgres_kill, ("postgres",)),
    "pg-restart": (postgres_restart, ("postgres",)),
    "pool-exhausted": (pool_exhausted, ("postgres",)),
}


def start_watchdog(top, cluster):
    """Once this process is gone however it ended, the watchdog kills the processes the run
    registered, unmounts its tmpfs mounts (a full tablespace's among them, under the cluster's
    directory) and stops the cluster."""
    stop_pg = f"{cluster.stop_command()}; " if cluster else ""
    PROCESSES.watchdog(f"for m in $(cat '{top}/mounts' 2>/dev/null); do umount -l \"$m\"; done; {stop_pg}rm -rf '{top}'")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("permit")
    parser.add_argument("--store", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--only", nargs="*", choices=sorted(FAULTS))
    args = parser.parse_args()
    args.permit = os.path.abspath(args.permit)
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    # SIGTERM and SIGHUP end the run as Ctrl-C does, through the clean-up below.
    def interrupted(signum, frame):
        raise KeyboardInterrupt()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    signal.signal(signal.SIGALRM, on_alarm)
    rows, healthy = [], True
    top = tempfile.mkdtemp(prefix="permit-chaos-")
    PROCESSES.file = os.path.join(top, "pids")
    cluster = None
    load_before = os.getloadavg()
    try:
        if "postgres" in kinds:
            # fsync off (see Cluster), room for 200 connections, and the servers' own role
            # (PG_ROLE) for the connection limit of pool-exhausted.
            cluster = Cluster("permit-chaos-pg-", settings={"max_connections": "200", "shared_buffers": "32MB"}, role=PG_ROLE)
        start_watchdog(top, cluster)
        plan = [(name, kind) for name in (args.only or FAULTS) for kind in kinds if kind in FAULTS[name][1]]
        for name, kind in plan:
            left = RUN_SECONDS - (time.monotonic() - STARTED)
            if left < 20:
                print(f"chaos: time is up before {name} on {kind}", file=sys.stderr)
                healthy = False
                break
            store = Store(kind, cluster)
            started = time.monotonic()
            signal.alarm(int(min(FAULT_SECONDS, left)))
            try:
                result = FAULTS[name][0](args.permit, os.path.join(top, f"{name}-{kind}"), store)
                if not isinstance(result, Row):
                    result, fine = result
                    healthy = healthy and fine
            except FaultTimeout:
                result = row(name, store, 0, 0, 0, 0, 0, "-", f"STOPPED: over its bound of {FAULT_SECONDS} s")
                healthy = False
            except Exception as e:  # a fault that could not run is a failed row, and the others still run
                result = row(name, store, 0, 0, 0, 0, 0, "-", f"COULD NOT RUN: {type(e).__name__}: {str(e)[:200]}")
                healthy = False
            finally:
                signal.alarm(0)
                for load in LOADS:
                    load.stop.set()
                PROCESSES.stop_all()
            result = result._replace(seconds=time.monotonic() - started)
            rows.append(result)
            print(f"chaos: {name} on {kind} done in {result.seconds:.1f} s", file=sys.stderr)
    finally:
        signal.alarm(0)
        PROCESSES.stop_all()
        for m in list(MOUNTS):
            unmount(m)
        if cluster:
            cluster.stop()
        shutil.rmtree(top, ignore_errors=True)
    print("| fault | store | sent | accepted | refused (clear error) | lost | duplicated | audit verify | time | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.fault} | {r.store} | {r.sent} | {r.accepted} | {r.refused} | {r.lost} | {r.duplicated} | {r.audit} "
              f"| {r.seconds:.0f} s | {r.note} |")
    load_after = os.getloadavg()
    print(f"chaos: {len(rows)} rows in {time.monotonic() - STARTED:.0f} s; load average {load_before[0]:.1f} at the start, "
          f"{load_after[0]:.1f} at the end ({os.cpu_count()} cores)")
    bad = [r for r in rows if r.lost or r.duplicated or r.audit != "OK"]
    if bad or not healthy:
        print(f"chaos: FAILED ({len(bad)} rows lost, duplicated or failed the audit)", file=sys.stderr)
        sys.exit(1)
    print(f"chaos: {len(rows)} rows, nothing lost, nothing duplicated, audit OK")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: everything started is stopped by now
        print("chaos: interrupted; what the run started is stopped", file=sys.stderr)
        sys.exit(130)
