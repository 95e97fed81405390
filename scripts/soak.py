#!/usr/bin/env python3
"""A soak of a two-instance deployment on PostgreSQL (scripts/soak), on loopback, bounded in time
and requests, that stops everything it started by itself.

What it starts: a throwaway PostgreSQL cluster (`initdb` into a directory under /tmp, as the
`postgres` user when run as root, a unix socket in that directory and no TCP port), a data
directory made with `permit init --database URL`, and two `permit serve --database URL` instances
on loopback ports, both reading that one data directory (the keys and the trust list) and sharing
the database.

The load: each authority's firms (the example firms, each with its own key and directory) apply
SOAK_APPLICATIONS applications in all, in batches of SOAK_BATCH, and each of the ten departments'
approvers reads a page of 50 of its queue (`queue --limit 50`) and approves it (`approve ID…`),
until the firms are done and its queue is empty;
every party runs the CLI (`permit … --server URL --authority CODE --json`), as a party on its own
machine would. The last approval issues the permit in its transaction.

Which instance a party talks to: each party alternates between the two instances, request by
request (a request here is one CLI run: a batch of applications, a page of the queue, or the
approvals of that page; each is a few HTTP requests to one instance). A run that fails whole
(connection refused or closed, a 503, a timeout) or reports items refused for a passing reason
(`store.busy`, `store.io`) is tried again on the other instance after a back-off of 0.2 s doubling
to 2 s: a firm sends the same batch file again, a department reads its queue again (which no
longer holds what a lost answer recorded) and approves what is left. The retry is safe because a
reference returns the application already stored and a decision already recorded is never
recorded again (README, "Pointing clients at a server"). So a party whose instance is down moves
to the other one on its next try; while PostgreSQL is down, both instances wait for it or refuse
with 503, and the parties back off and try again.

The faults, mid-load: once a quarter of the applications are accepted (or a quarter of the time
bound has passed), instance B is SIGKILLed, left down SOAK_DOWN_SECONDS, and restarted on the same
port; once 60% are accepted (or 45% of the bound), PostgreSQL is restarted (`pg_ctl restart -m fast`).

The bound: firms send new batches during the first 60% of SOAK_SECONDS (a batch already sent is
retried until it is answered) and the departments drain their queues until SOAK_SECONDS. On a slow
machine fewer than SOAK_APPLICATIONS may be sent: that is printed, and is not a failure; an
accepted application still pending at the end is.

The checks afterwards, each per authority, read from the database directly (psql):
  - every application a client was told was accepted is stored, exactly once, and the clients'
    count of accepted applications equals the store's;
  - every application whose required approvals are all in has exactly one permit, and no other
    application has one; every decision a client was told was recorded is stored, once;
  - the permit serials are 1…n without a gap;
  - `permit audit verify --database URL` passes;
and for the deployment: no instance answered a 5xx other than 503, nor a 401 or 403 (every key is
registered: from the servers' request logs, LOG_LEVEL=info), both instances are ready (/readyz) at the end, and every accepted application
was issued before the bound. It prints the figures and one summary line, and exits 1 if any check fails
(2 if the deployment could not be set up).

Authorities: three in one deployment (AUTHORITIES below): the one `permit init` makes and two that
`permit authority add` adds, each its own schema in the one database. Each has its own firms and
department approvers; every client names its authority (`--authority CODE`), and every check
above runs per authority on that authority's schema.

Environment (defaults in brackets): SOAK_SECONDS [180], SOAK_APPLICATIONS [2000], SOAK_FIRMS [6 per
authority, at most 7], SOAK_BATCH [20], SOAK_DOWN_SECONDS [3: how long instance B stays down],
SOAK_PG_DOWN_SECONDS [0: `pg_ctl restart -m fast`; more, a fast stop, that long down, and a start],
SOAK_KEEP=1 keeps the run's directory (the servers' logs, PostgreSQL's) and prints where it is.

    soak.py PERMIT-BINARY
"""
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from permitdeploy import (AUTHORITY, DEPARTMENTS, PROCESSES, Cluster, Deployment, Server, example_fleets, json_lines,
                          unique_plate)

# The authorities of the deployment the soak spreads its parties over: (code, name, phone). The
# first is the one `permit init` makes, the others `permit authority add` (each its own schema).
AUTHORITIES = [AUTHORITY, ("330106", "杭州市西湖区交通运输局", "0571-87000000"),
               ("330206", "宁波市北仑区交通运输局", "0574-86000000")]

SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
APPLICATIONS = int(os.environ.get("SOAK_APPLICATIONS", "2000"))
FIRMS = int(os.environ.get("SOAK_FIRMS", "6"))
BATCH = int(os.environ.get("SOAK_BATCH", "20"))
DOWN_SECONDS = float(os.environ.get("SOAK_DOWN_SECONDS", "3"))
PG_DOWN_SECONDS = float(os.environ.get("SOAK_PG_DOWN_SECONDS", "0"))
KEEP = os.environ.get("SOAK_KEEP") == "1"
DECISIONS = 50  # a department's page of its queue, approved in one request
SEND_SHARE = 0.6  # firms send new batches during this share of the bound; the departments drain the rest
CLIENT_TIMEOUT = 120  # seconds one CLI run may take before it is killed and sent again
TRANSIENT = {"store.busy", "store.io"}  # item errors that a retry may clear


def add_authority(dep, code, name, phone):
    """Adds an authority to the deployment and returns its admin key's path: the first is made by
    `permit init` (in Deployment), the others by `permit authority add`, in the same database."""
    if code == AUTHORITY[0]:
        return dep.admin
    dep.local("authority", "add", "--code", code, "--name", name, "--phone", phone)
    return os.path.join(dep.data, "authorities", code, "admin-key.pem")


def schema(code):
    """The PostgreSQL schema that holds an authority's store: the first in `public`, the others in aCODE."""
    return "public" if code == AUTHORITY[0] else "a" + code


class Stats:
    """What the clients saw, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = {}  # (authority, credit code, reference) -> application ID
        self.refused = {}  # (authority, credit code, reference) -> problem code
        self.refused_after_accept = collections.Counter()  # items refused when sent again after they were accepted
        self.sent_applications = set()
        self.application_items = 0  # items sent, retries included
        self.decided = set()  # (authority, application ID, department) told recorded
        self.decision_items = 0
        self.already_decided = collections.Counter()  # decision.alreadyDecided, application.notPending
        self.decided_before = set()  # (authority, application ID, department) refused as decided already
        self.decision_refused = collections.Counter()
        self.issued = collections.defaultdict(set)  # authority -> permit numbers the approvers were told
        self.runs = collections.Counter()  # apply / approve
        self.retried_runs = 0
        self.retried_items = 0
        self.failures = collections.Counter()  # why a run failed whole
        self.failure_samples = {}  # a failure's reason -> its standard error, the first time
        self.seconds = collections.defaultdict(list)  # apply / approve -> each run's duration
        self.transient = collections.Counter()  # item errors that were retried

    def accepted_count(self):
        with self.lock:
            return len(self.accepted)


class Party:
    """A firm or a department of one authority: its directory (only its key in it) and its turn of
    instance."""

    def __init__(self, soak, authority, name):
        self.soak, self.authority, self.name = soak, authority, name
        self.dir = soak.dep.party(f"{authority}-{name}")
        self.turn = random.Random(name).randrange(2)

    def run(self, *args):
        """One CLI run against the next instance: (exit status, stdout, stderr); 124 on a timeout."""
        server = self.soak.servers[self.turn % 2]
        self.turn += 1
        env = dict(self.soak.dep.env, PERMIT_HOME=os.path.join(self.dir, "no-data-here"))
        proc = subprocess.Popen([self.soak.permit, *args, "--server", server.url, "--authority", self.authority],
                                cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with self.soak.lock:
            self.soak.clients.add(proc)
        t = time.monotonic()
        try:
            out, err = proc.communicate(timeout=CLIENT_TIMEOUT)
            with self.soak.stats.lock:
                self.soak.stats.seconds[args[0]].append(time.monotonic() - t)
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return 124, out, "timeout"
        finally:
            with self.soak.lock:
                self.soak.clients.discard(proc)


def reason(rc, out, err):
    """A run's failure, in a few words, for the table of failures: the problem's code, and for
    `server.unreachable` how (connection refused, closed, reset)."""
    if rc == 124:
        return "timeout"
    text = (err.strip() or out.strip() or f"exit {rc}").splitlines()[-1]
    try:
        problem = json.loads(text)["errors"][0]
        code, text = problem["code"], problem.get("message", "")
    except (ValueError, KeyError, IndexError, TypeError):
        code = ""
    if code and code != "server.unreachable":
        return code
    for word in ("connection refused", "closed", "reset", "timed out"):
        if word in text.lower():
            return f"{code or 'unreachable'}: {word}"
    return (code + " " + text[:60]).strip()


class Soak:
    def __init__(self, permit, top):
        self.permit, self.top = permit, top
        self.lock = threading.Lock()
        self.clients = set()
        self.stop = threading.Event()
        self.stats = Stats()
        self.servers = []
        self.firms_done = threading.Event()
        self.cluster = None
        self.broken = None
        self.faults = []

    # Set-up -----------------------------------------------------------------------------------
    def start(self):
        t = time.monotonic()
        # The cluster's own settings (fsync off) and the postgres superuser: the soak sets no
        # connection limit, so its servers need no role of their own.
        self.cluster = Cluster("permit-soak-pg-", database="permits")
        PROCESSES.file = os.path.join(self.top, "pids")
        # Stops the servers and the cluster if this process dies without cleaning up (SIGKILL).
        PROCESSES.watchdog(f"{self.cluster.stop_command()}; {'' if KEEP else f'rm -rf {self.top!r}'}")
        self.dep = Deployment(self.permit, os.path.join(self.top, "deployment"), database=self.cluster.url(),
                              parties=False, serve=False)
        per_authority = APPLICATIONS // len(AUTHORITIES)
        plate = iter(range(1, 100000))
        self.firms, self.departments = [], []
        for a, (code, name, phone) in enumerate(AUTHORITIES):
            admin = add_authority(self.dep, code, name, phone)
            fleets = list(example_fleets().items())
            count = per_authority + (APPLICATIONS % len(AUTHORITIES) if a == 0 else 0)
            firms = min(FIRMS, len(fleets))
            lines = sum(len(apps) for _, apps in fleets[:firms])
            copies = -(-count // lines)

            def vary(c, n, app, code=code):
                app["reference"] = f"{app['reference']}-{code}-{c}"
                app["vehicle"]["plate"] = unique_plate(app["vehicle"]["plate"], next(plate))
            self.dep.add_parties(admin, firms, copies, prefix=f"{code}-", vary=vary, authority=code)
            # Exactly `count` applications over the firms: their files cut to their shares, then into batches.
            shares = [count // firms + (1 if i < count % firms else 0) for i in range(firms)]
            for (credit, _), share in zip(fleets[:firms], shares):
                party = Party(self, code, f"firm-{credit}")
                with open(os.path.join(party.dir, "applications.jsonl"), encoding="utf-8") as f:
                    lines_ = [line for line in f if line.strip()][:share]
                party.batches = []
                for b in range(0, len(lines_), BATCH):
                    file = f"batch-{b // BATCH:04d}.jsonl"
                    with open(os.path.join(party.dir, file), "w", encoding="utf-8") as f:
                        f.writelines(lines_[b:b + BATCH])
                    party.batches.append((file, [(code, credit, json.loads(line)["reference"]) for line in lines_[b:b + BATCH]]))
                self.firms.append(party)
            self.departments += [Party(self, code, f"dept-{d}") for d in DEPARTMENTS]
        for n in ("a", "b"):  # each with its request log (LOG_LEVEL=info) in a file of its own
            self.servers.append(Server(self.permit, self.dep.data, self.dep.env, database=self.cluster.url(),
                                       log=os.path.join(self.top, f"serve-{n}.log")))
        self.setup_seconds = time.monotonic() - t

    def stop_clients(self):
        self.stop.set()
        with self.lock:
            clients = list(self.clients)
        for p in clients:
            if p.poll() is None:
                p.kill()

    def cleanup(self):
        self.stop_clients()
        self.exits = []
        for s in self.servers:
            if s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
                try:
                    self.exits.append(s.proc.wait(timeout=30))
                except subprocess.TimeoutExpired:
                    s.kill()
                    self.exits.append("killed")
        if PROCESSES.file and os.path.exists(PROCESSES.file):
            os.remove(PROCESSES.file)
        if self.cluster:
            if KEEP and os.path.exists(self.cluster.log):
                shutil.copy(self.cluster.log, os.path.join(self.top, "postgresql.log"))
            self.cluster.stop()

    # The load ---------------------------------------------------------------------------------
    def backoff(self, attempt):
        time.sleep(min(2.0, 0.2 * 2 ** attempt) * random.uniform(0.7, 1.3))

    def firm(self, party):
        st = self.stats
        for file, keys in party.batches:
            if time.monotonic() > self.send_until:
                break  # no new batch after the firms' share of the bound; one already sent is seen through
            with st.lock:
                st.sent_applications.update(keys)
            attempt = 0
            while not self.stop.is_set():
                rc, out, err = party.run("apply", "--key", "key.pem", file, "--json")
                items = [i for i in json_lines(out) if "index" in i]
                with st.lock:
                    st.runs["apply"] += 1
                    st.application_items += len(keys)
                    if attempt:
                        st.retried_runs += 1
                        st.retried_items += len(keys)
                    again = rc not in (0, 1) or len(items) != len(keys)
                    if again:
                        st.failures[f"apply: {reason(rc, out, err)}"] += 1
                        st.failure_samples.setdefault(f"apply: {reason(rc, out, err)}", (err.strip() or out.strip())[-300:])
                    else:
                        for item in items:
                            key = (party.authority, keys[0][1], item.get("reference"))
                            code = (item.get("errors") or [{}])[0].get("code")
                            if code in TRANSIENT:
                                st.transient[code] += 1
                                again = True
                            elif code:
                                if key in st.accepted:  # a retry must return the stored application
                                    st.refused_after_accept[code] += 1
                                else:
                                    st.refused[key] = code
                            else:
                                st.accepted[key] = item["id"]
                                st.refused.pop(key, None)
                if not again:
                    break
                self.backoff(attempt)
                attempt += 1

    def department(self, party):
        """Reads a page of the department's queue, approves it, and again: two requests, each to
        the next instance. A failed request is followed by a back-off and a fresh read of the queue,
        which no longer holds what a lost answer recorded."""
        st = self.stats
        department = party.name[len("dept-"):]
        attempt = 0

        def failed(kind, rc, out, err):
            why = f"{kind}: {reason(rc, out, err)}"
            with st.lock:
                st.failures[why] += 1
                st.failure_samples.setdefault(why, (err.strip() or out.strip())[-300:])
            self.backoff(attempt)

        while not self.stop.is_set():
            done_before = self.firms_done.is_set()
            rc, out, err = party.run("queue", "--department", department, "--key", "key.pem", "--limit", str(DECISIONS), "--json")
            with st.lock:
                st.runs["queue"] += 1
            rows = next((r for r in json_lines(out) if isinstance(r, list)), None)
            if rc != 0 or rows is None:
                failed("queue", rc, out, err)
                attempt += 1
                continue
            if not rows:
                if done_before:
                    return
                time.sleep(0.5)
                continue
            ids = [r["id"] for r in rows]
            rc, out, err = party.run("approve", "--department", department, "--key", "key.pem", *ids, "--json")
            items = [i for i in json_lines(out) if "id" in i or "input" in i]
            with st.lock:
                st.runs["approve"] += 1
                if attempt:
                    st.retried_runs += 1
                st.decision_items += len(ids)
                for item in items:
                    code = (item.get("errors") or [{}])[0].get("code")
                    app = item.get("id") or item.get("input")
                    if code in ("decision.alreadyDecided", "application.notPending"):
                        # Decided already: by a request of ours whose answer was lost, still running
                        # on the server when this one read the queue. Checked against the store.
                        st.already_decided[code] += 1
                        st.decided_before.add((party.authority, app, department))
                    elif code in TRANSIENT:
                        st.transient[code] += 1
                    elif code:
                        st.decision_refused[code] += 1
                    else:
                        st.decided.add((party.authority, app, department))
                        if item.get("permitNumber"):
                            st.issued[party.authority].add(item["permitNumber"])
            if rc not in (0, 1) or any((i.get("errors") or [{}])[0].get("code") in TRANSIENT for i in items):
                failed("approve", rc, out, err) if rc not in (0, 1) else self.backoff(attempt)
                attempt += 1
                continue
            attempt = 0

    def run(self):
        self.t0 = time.monotonic()
        deadline = self.t0 + SECONDS
        self.send_until = self.t0 + SEND_SHARE * SECONDS
        firms = [threading.Thread(target=self.firm, args=(p,), daemon=True) for p in self.firms]
        departments = [threading.Thread(target=self.department, args=(p,), daemon=True) for p in self.departments]
        for t in firms + departments:
            t.start()
        self.faults = []

        def progress():
            return self.stats.accepted_count() / max(1, APPLICATIONS)

        def wait_for(share, time_share):
            while time.monotonic() < deadline and progress() < share and time.monotonic() - self.t0 < time_share * SECONDS:
                if not any(t.is_alive() for t in firms):
                    break
                time.sleep(0.2)

        # Fault 1: SIGKILL instance B, leave it down, restart it on the same port.
        wait_for(0.25, 0.25)
        at, share = time.monotonic() - self.t0, progress()
        self.servers[1].kill(signal.SIGKILL)
        time.sleep(DOWN_SECONDS)
        t = time.monotonic()
        self.servers[1] = self.servers[1].restart()
        self.faults.append(f"instance B SIGKILLed at {at:.1f} s ({share:.0%} of the applications accepted), "
                           f"down {DOWN_SECONDS:.0f} s, restarted and listening in {time.monotonic() - t:.2f} s")
        # Fault 2: restart PostgreSQL under both instances.
        wait_for(0.60, 0.45)
        at, share = time.monotonic() - self.t0, progress()
        t = time.monotonic()
        self.cluster.restart(PG_DOWN_SECONDS)
        how = f"stopped -m fast, down {PG_DOWN_SECONDS:g} s, started" if PG_DOWN_SECONDS else "pg_ctl restart -m fast"
        self.faults.append(f"PostgreSQL restarted ({how}) at {at:.1f} s "
                           f"({share:.0%} accepted), took {time.monotonic() - t:.2f} s")
        for t in firms:
            t.join(max(0.0, deadline - time.monotonic()))
        self.firms_done.set()
        for t in departments:
            t.join(max(0.0, deadline - time.monotonic()))
        self.timed_out = any(t.is_alive() for t in firms + departments)
        self.stop_clients()  # the bound: what is still running is stopped
        for t in firms + departments:
            t.join(CLIENT_TIMEOUT + 5)
        self.duration = time.monotonic() - self.t0

    # The checks -------------------------------------------------------------------------------
    def check(self):
        st, c = self.stats, self.cluster
        checks = []  # (name, ok, detail)
        codes = [a[0] for a in AUTHORITIES]
        self.figures = collections.OrderedDict()
        self.lost = self.duplicated = 0
        for code in codes:
            # Each authority's store is a schema of its own in the one database.
            apps = c.rows("SELECT a.id, a.creditCode, a.reference, a.state, "
                          "(SELECT COUNT(*) FROM requiredDepartment r WHERE r.applicationID = a.id), "
                          "(SELECT COUNT(*) FROM requiredDepartment r WHERE r.applicationID = a.id AND r.state = 'approved'), "
                          "(SELECT COUNT(*) FROM permit p WHERE p.applicationID = a.id) FROM application a", schema(code))
            permits = c.rows("SELECT authority, serial, number, applicationID FROM permit", schema(code))
            decisions = collections.Counter((r[0], r[1]) for r in c.rows("SELECT applicationID, department FROM decision", schema(code)))
            # Every application of this store is one of this authority's: the references say so too.
            strays = [a[2] for a in apps if a[2].split("-")[-2:-1] != [code]]
            checks.append((f"{code}: its store holds only its own applications", not strays, f"others: {strays[:5]}"))
            mine = apps
            stored = collections.Counter((code, a[1], a[2]) for a in mine)
            told = {k: v for k, v in st.accepted.items() if k[0] == code}
            lost = [k for k in told if stored.get(k, 0) == 0]
            duplicated = sum(n - 1 for n in stored.values() if n > 1)
            unconfirmed = [k for k in stored if k not in told]
            self.lost += len(lost)
            self.duplicated += duplicated
            checks.append((f"{code}: every accepted application stored exactly once", not lost and not duplicated,
                           f"told accepted {len(told)}, stored {sum(stored.values())}, lost {len(lost)}, duplicated {duplicated}"))
            checks.append((f"{code}: clients' count of accepted = the store's", len(told) == len(stored) and not unconfirmed,
                           f"{len(told)} = {len(stored)}" + (f"; stored but never confirmed {len(unconfirmed)}" if unconfirmed else "")))
            completed = [a for a in mine if int(a[4]) > 0 and a[4] == a[5]]
            wrong = [a[0] for a in completed if a[6] != "1"] + [a[0] for a in mine if a[4] != a[5] and a[6] != "0"]
            checks.append((f"{code}: one permit per application whose approvals completed", not wrong,
                           f"{len(completed)} completed, {sum(1 for a in mine if a[6] == '1')} with a permit"
                           + (f"; wrong: {wrong[:5]}" if wrong else "")))
            ids = {f"A{int(a[0]):06d}": a[0] for a in mine}
            lost_decisions = [k for k in st.decided if k[0] == code and decisions.get((ids.get(k[1]), k[2]), 0) == 0]
            unexplained = [k for k in st.decided_before if k[0] == code and decisions.get((ids.get(k[1]), k[2]), 0) == 0]
            twice = sum(n - 1 for (app, _), n in decisions.items() if n > 1 and app in ids.values())
            self.lost += len(lost_decisions)
            self.duplicated += twice
            checks.append((f"{code}: every decision refused as already decided is stored", not unexplained,
                           f"{sum(1 for k in st.decided_before if k[0] == code)} refused so, {len(unexplained)} not stored"))
            checks.append((f"{code}: every recorded decision stored exactly once", not lost_decisions and not twice,
                           f"told recorded {sum(1 for k in st.decided if k[0] == code)}, stored "
                           f"{sum(n for (app, _), n in decisions.items() if app in ids.values())}, lost {len(lost_decisions)}, duplicated {twice}"))
            serials = sorted(int(p[1]) for p in permits if p[0] == code)
            numbers = {p[2] for p in permits if p[0] == code}
            gap_free = serials == list(range(1, len(serials) + 1))
            checks.append((f"{code}: serials gap-free", gap_free,
                           f"{len(serials)} permits, serials 1…{serials[-1] if serials else 0}"
                           + ("" if gap_free else f"; missing {sorted(set(range(1, max(serials) + 1)) - set(serials))[:10]}")))
            missing_issued = st.issued[code] - numbers
            checks.append((f"{code}: every permit an approver was told of is stored", not missing_issued,
                           f"{len(st.issued[code])} told issued, {len(missing_issued)} missing"))
            pending = [a for a in mine if a[3] == "pending"]
            checks.append((f"{code}: every accepted application issued (the departments drained their queues)",
                           not pending and not self.timed_out,
                           f"pending {len(pending)}" + ("; the time bound stopped the clients first" if self.timed_out else "")))
            audit = subprocess.run([self.permit, "audit", "verify", "--data-dir", self.dep.data, "--database", c.url(),
                                    "--authority", code], env=self.dep.env, capture_output=True, text=True)
            ok = audit.returncode == 0 and "audit OK" in audit.stdout
            checks.append((f"{code}: permit audit verify --database URL", ok,
                           (audit.stdout.strip().splitlines() or [""])[-1][:120] if ok else (audit.stdout + audit.stderr).strip()[-300:]))
            self.figures[code] = dict(accepted=len(told), permits=len(serials), refused=collections.Counter(
                v for k, v in st.refused.items() if k[0] == code))
        # The instances: statuses answered, from the request logs; both ready now.
        self.statuses = collections.Counter()
        self.requests = {}
        for n in ("a", "b"):
            count = 0
            with open(os.path.join(self.top, f"serve-{n}.log"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if " request id=" in line and " status=" in line:
                        count += 1
                        self.statuses[int(line.split(" status=")[1].split()[0])] += 1
            self.requests[n] = count
        bad = {s: n for s, n in self.statuses.items() if s >= 500 and s != 503}
        checks.append(("a batch sent again returns the applications already accepted", not st.refused_after_accept,
                       f"refused when sent again: {dict(st.refused_after_accept)}"))
        checks.append(("no 5xx other than 503", not bad, f"statuses {dict(sorted(self.statuses.items()))}"))
        # Every party's key is registered and every request signed afresh: a 401 or 403 is a
        # refusal the server had no reason for (it said "unknown key" while PostgreSQL was down).
        refused = {s: n for s, n in self.statuses.items() if s in (401, 403)}
        checks.append(("no registered key refused (401, 403)", not refused, f"{sum(refused.values())} refused"))
        ready = []
        for s in self.servers:
            try:
                ready.append(urllib.request.urlopen(s.url + "/readyz", timeout=10).status == 200)
            except Exception:
                ready.append(False)
        checks.append(("both instances ready after the faults", all(ready), f"/readyz {ready}"))
        if self.broken:
            checks.append(("the faults were undone (instance restarted, PostgreSQL up)", False, self.broken))
        return checks


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    permit = os.path.abspath(sys.argv[1])
    top = tempfile.mkdtemp(prefix="permit-soak-")
    soak = Soak(permit, top)

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    checks = None
    try:
        try:
            soak.start()
        except (RuntimeError, OSError) as e:
            print(f"soak: the deployment could not be set up: {e}", file=sys.stderr)
            sys.exit(2)
        print(f"soak: PostgreSQL {soak.cluster.version}, {len(AUTHORITIES)} authorit{'y' if len(AUTHORITIES) == 1 else 'ies'} "
              f"({', '.join(a[0] for a in AUTHORITIES)}), {len(soak.firms)} firms and {len(soak.departments)} departments, "
              f"2 instances ({soak.servers[0].url}, {soak.servers[1].url}); set up in {soak.setup_seconds:.1f} s; "
              f"{APPLICATIONS} applications in batches of {BATCH}, at most {SECONDS:.0f} s", file=sys.stderr)
        try:
            soak.run()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            # A fault that could not be undone: an instance that does not start again, a cluster
            # that does not restart. The checks still run on what the store holds.
            soak.stop_clients()
            soak.broken = f"{type(e).__name__}: {e}"
            print(f"soak: FAILED during the load: {soak.broken}", file=sys.stderr)
            soak.duration = time.monotonic() - soak.t0
            soak.timed_out = True
        checks = soak.check()
    except KeyboardInterrupt:
        print("soak: interrupted; stopping what it started", file=sys.stderr)
    finally:
        soak.cleanup()
        if KEEP:
            print(f"soak: kept {top}", file=sys.stderr)
        else:
            shutil.rmtree(top, ignore_errors=True)
    if checks is None:
        sys.exit(130)
    report(soak, checks)
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


def report(soak, checks):
    st = soak.stats
    d = soak.duration
    accepted = len(st.accepted)
    permits = sum(f["permits"] for f in soak.figures.values())
    http = sum(soak.requests.values())
    print(f"soak: {len(AUTHORITIES)} {'authority' if len(AUTHORITIES) == 1 else 'authorities'} {', '.join(soak.figures)}; {len(soak.firms)} firms, "
          f"{len(soak.departments)} departments; 2 instances on one PostgreSQL {soak.cluster.version}")
    for f in soak.faults:
        print(f"  fault: {f}")
    print(f"  applications: {len(st.sent_applications)} of {APPLICATIONS} sent ({st.application_items} items with retries), "
          f"{accepted} accepted, {len(st.refused)} refused with a clear error {dict(collections.Counter(st.refused.values()))}")
    print(f"  decisions: {st.decision_items} items sent, {len(st.decided)} recorded, "
          f"refused as decided already (a retry after a lost answer) {dict(st.already_decided)}, "
          f"refused {dict(st.decision_refused)}; permits issued {permits}")
    print(f"  client runs (requests): apply {st.runs['apply']}, queue {st.runs['queue']}, approve {st.runs['approve']}; "
          f"retried {st.retried_runs} runs ({st.retried_items} application items); item errors retried {dict(st.transient)}")
    print(f"  runs that failed whole: {dict(st.failures.most_common())}")
    for why, sample in st.failure_samples.items():
        print(f"    {why}: {sample!r}")
    for kind, seconds in sorted(st.seconds.items()):
        seconds = sorted(seconds)
        print(f"  {kind} runs: {len(seconds)}, p50 {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s")
    print(f"  HTTP requests answered: instance A {soak.requests['a']}, B {soak.requests['b']}; "
          f"statuses {dict(sorted(soak.statuses.items()))}; server exits on SIGTERM {soak.exits}")
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    audit = all(ok for n, ok, _ in checks if "audit" in n)
    gap_free = all(ok for n, ok, _ in checks if "serials" in n)
    print(f"soak: {sum(st.runs.values())} requests sent ({len(st.sent_applications)} applications, "
          f"{st.decision_items} decisions), {accepted} applications accepted, {st.retried_runs} requests retried, "
          f"lost {soak.lost}, duplicated {soak.duplicated}, "
          f"serials {'gap-free' if gap_free else 'WITH GAPS'}, audit {'OK' if audit else 'FAILED'}, "
          f"{d:.1f} s, {accepted / d:.1f} applications/s, {permits / d:.1f} permits/s, {http / d:.1f} HTTP requests/s; "
          f"{'all checks passed' if all(ok for _, ok, _ in checks) else 'CHECKS FAILED'}")


if __name__ == "__main__":
    main()
