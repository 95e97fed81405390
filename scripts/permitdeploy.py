"""What the fault scripts share (scripts/chaos.py, scripts/soak.py): a deployment made with the CLI,
its parties, `permit serve` on loopback ports, and reading the CLI's JSON Lines.

A deployment is a data directory made by `permit init` (with `--database URL`, a PostgreSQL store
instead of the directory's SQLite file), the ten departments' approvers and some of the example
firms registered, each party working from a directory of its own holding only its key, through
`permit … --server`.
"""
import collections
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOW = "2026-11-30T09:00:00+08:00"
NOW_UNIX = 1796000400  # NOW in Unix seconds
DEPARTMENTS = ["TRANSPORT", "DEVREFORM", "INDUSTRY", "PUBLIC_SECURITY", "AGRICULTURE", "COMMERCE", "HEALTH",
               "MARKET_REGULATION", "ENERGY", "POSTAL"]
# The authority `permit init` makes: code, name, phone.
AUTHORITY = ("330114", "杭州市钱塘区交通运输局", "0571-86000000")


def load_httpsig():
    spec = importlib.util.spec_from_file_location("httpsig", os.path.join(ROOT, "scripts", "httpsig-check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def json_lines(text):
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def example_fleets():
    """examples/applications.jsonl by firm: {credit code: [application, …]}, in file order."""
    by_firm = collections.OrderedDict()
    for line in open(os.path.join(ROOT, "examples", "applications.jsonl"), encoding="utf-8"):
        if not line.strip():
            continue
        try:
            app = json.loads(line)
            code = app["applicant"]["creditCode"]
        except Exception:
            continue
        by_firm.setdefault(code, []).append(app)
    return by_firm


def unique_plate(plate, k):
    """`plate` with its serial replaced by the number k (below 10,000 for a small new-energy plate,
    100,000 for the others), keeping its kind, so that its colour still fits."""
    if len(plate) == 8 and plate[-1] in "DF" and plate[2:7].isdigit():  # large new-energy
        return plate[:2] + f"{k % 100000:05d}" + plate[-1]
    if len(plate) == 8:  # small new-energy: a letter, a digit or letter, 4 digits
        return plate[:4] + f"{k % 10000:04d}"
    return plate[:2] + f"{k % 100000:05d}"


class Server:
    """`permit serve` on a loopback port; killed with any signal, restarted on the same port.
    With `database`, on that PostgreSQL store (`--database URL`) instead of the data directory's
    SQLite file; `log` is the file its standard error is appended to."""

    def __init__(self, permit, data, env, port=0, database=None, log=None):
        self.permit, self.data, self.env, self.database = permit, data, env, database
        self.log_path = log or os.path.join(os.path.dirname(os.path.dirname(data)),
                                            f"serve-{os.path.basename(os.path.dirname(data))}.log")
        self.log = open(self.log_path, "ab")
        argv = [permit, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
        if database:
            argv += ["--database", database]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on "):
            self.proc.wait(timeout=30)
            raise RuntimeError(f"permit serve printed {line!r}")
        self.url = line[len("listening on "):].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self):
        return self.proc.pid

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def restart(self, env=None):
        self.kill()
        for _ in range(50):  # the port may linger a moment after SIGKILL
            try:
                return Server(self.permit, self.data, env or self.env, self.port, self.database, self.log_path)
            except RuntimeError:
                time.sleep(0.1)
        raise RuntimeError("the server did not restart")


class Deployment:
    """A data directory, the parties' directories and their keys (with `parties`), and (with `serve`) a server on it.
    `database`: a PostgreSQL URL for `init` and every local verb (the data directory then holds
    only the keys and the trust list)."""

    def __init__(self, permit, root, firms=2, copies=1, data_parent=None, database=None, parties=True, serve=True):
        self.permit, self.root, self.database = permit, root, database
        os.makedirs(root, exist_ok=True)
        self.data = os.path.join(data_parent or root, "data")
        self.env = dict(os.environ, LANG="C.UTF-8", PERMIT_NOW=NOW)
        self.env.pop("PERMIT_SERVER", None)
        self.env.pop("PERMIT_DATABASE", None)
        code, name, phone = AUTHORITY
        self.local("init", "--authority", code, "--name", name, "--phone", phone)
        self.admin = os.path.join(self.data, "admin-key.pem")
        self.firms = self.add_parties(self.admin, firms, copies) if parties else []
        self.server = Server(permit, self.data, self.env, database=database) if serve else None

    def add_parties(self, admin, firms, copies, prefix="", vary=None, authority=None):
        """Registers an approver for each department and the first `firms` example firms, each with
        a key in a directory of its own (`{prefix}dept-D`, `{prefix}firm-CODE`), and writes each firm's
        applications.jsonl: `copies` of its example lines. `vary(copy, line, application)` changes a
        copy in place; by default copy 0 is the example as it is and the others get references and
        plates of their own, so that none supersedes another. `authority`: the code of the authority
        they are registered with, in a deployment of several. Returns the firms' credit codes."""
        chosen = ["--authority", authority] if authority else []
        def default_vary(c, n, app):
            if c:
                app["reference"] = f"{app['reference']}-C{c}"
                app["vehicle"]["plate"] = app["vehicle"]["plate"][:2] + f"{(c * 97 + n) % 100000:05d}"
        vary = vary or default_vary
        for d in DEPARTMENTS:
            os.makedirs(self.party(f"{prefix}dept-{d}"))
            self.local("approver", "add", *chosen, "--department", d, "--name", f"审批人 {d}", "--generate",
                       os.path.join(self.party(f"{prefix}dept-{d}"), "key.pem"), "--admin-key", admin)
        fleets = example_fleets()
        codes = list(fleets)[:firms]
        for code in codes:
            os.makedirs(self.party(f"{prefix}firm-{code}"))
            self.local("applicant", "add", *chosen, "--credit-code", code, "--name", f"企业 {code}", "--generate",
                       os.path.join(self.party(f"{prefix}firm-{code}"), "key.pem"), "--admin-key", admin)
            with open(os.path.join(self.party(f"{prefix}firm-{code}"), "applications.jsonl"), "w", encoding="utf-8") as out:
                for c in range(copies):
                    for n, app in enumerate(fleets[code]):
                        app = json.loads(json.dumps(app))
                        vary(c, n, app)
                        out.write(json.dumps(app, ensure_ascii=False) + "\n")
        return codes

    def party(self, name):
        return os.path.join(self.root, name)

    def local(self, *args, check=True):
        database = ["--database", self.database] if self.database else []
        r = subprocess.run([self.permit, *args, "--data-dir", self.data, *database], env=self.env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"permit {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def remote(self, party, *args, now=NOW, timeout=300):
        env = dict(self.env, PERMIT_NOW=now, PERMIT_HOME=os.path.join(self.party(party), "no-data-here"))
        return subprocess.run([self.permit, *args, "--server", self.server.url], cwd=self.party(party), env=env,
                              capture_output=True, text=True, timeout=timeout)

    def remote_background(self, party, *args):
        env = dict(self.env, PERMIT_HOME=os.path.join(self.party(party), "no-data-here"))
        return subprocess.Popen([self.permit, *args, "--server", self.server.url], cwd=self.party(party), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # What the SQLite store holds, read directly.
    def db(self):
        return sqlite3.connect(f"file:{os.path.join(self.data, 'permit.sqlite')}?mode=ro", uri=True)

    def stored_references(self):
        with self.db() as c:
            return collections.Counter((r[0], r[1]) for r in c.execute("SELECT creditCode, reference FROM application"))

    def stored_decisions(self):
        with self.db() as c:
            return collections.Counter(c.execute("SELECT applicationID, department FROM decision"))

    def permits_per_application(self):
        with self.db() as c:
            return collections.Counter(r[0] for r in c.execute("SELECT applicationID FROM permit"))

    def serials(self):
        with self.db() as c:
            return sorted(r[0] for r in c.execute("SELECT serial FROM permit"))

    def audit(self):
        r = self.local("audit", "verify", check=False)
        return "OK" if r.returncode == 0 and "audit OK" in r.stdout else f"FAILED: {(r.stdout + r.stderr).strip()[-200:]}"

    def stop(self):
        if self.server:
            self.server.kill(signal.SIGTERM)
