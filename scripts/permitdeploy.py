"""What the fault scripts share (scripts/chaos.py, scripts/soak.py): a deployment made with the CLI,
its parties, `permit serve` on loopback ports, a throwaway PostgreSQL cluster, the registry of the
processes a run starts (and the watchdog that stops them), and reading the CLI's JSON Lines.

A deployment is a data directory made by `permit init` (with `--database URL`, a PostgreSQL store
instead of the directory's SQLite file), the ten departments' approvers and some of the example
firms registered, each party working from a directory of its own holding only its key, through
`permit … --server`.
"""
import collections
import glob
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
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


class Processes:
    """Everything a run starts (servers, clients, psql sessions) is registered here, and stopped by
    its own process id: never by name. With `file`, the ids of those still running are kept there,
    one a line (an id that has ended is dropped: it could be given to another process), for the
    watchdog that kills them should the run itself be killed."""

    def __init__(self):
        self.procs = []
        self.file = None
        self.lock = threading.Lock()

    def spawn(self, argv, **kwargs):
        proc = subprocess.Popen(argv, **kwargs)
        with self.lock:
            self.procs.append(proc)
        self.write()
        return proc

    def write(self):
        """Forgets the processes that have ended and lists the others in `file`."""
        with self.lock:
            self.procs = [p for p in self.procs if p.poll() is None]
            if self.file:
                with open(self.file + ".new", "w") as f:
                    f.write("".join(f"{p.pid}\n" for p in self.procs))
                os.replace(self.file + ".new", self.file)

    def stop_all(self):
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        self.write()

    def watchdog(self, then=""):
        """A shell in a session of its own that, once this process is gone however it ended (SIGKILL
        too), kills the processes listed in `file` and runs `then` (shell: stop the cluster, unmount
        what the run mounted, remove its directory)."""
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"for p in $(cat '{self.file}' 2>/dev/null); do kill -9 \"$p\" 2>/dev/null; done; {then}")
        subprocess.run(["setsid", "--fork", "sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


PROCESSES = Processes()


class Cluster:
    """A throwaway PostgreSQL cluster, as Tests/PermitTestSupport/TestPostgres makes one: initdb into
    a directory under /tmp (`prefix` starts its name), a unix socket there and no TCP port, fsync
    off; run as the `postgres` user when we are root (PostgreSQL refuses root). Its server binaries:
    $PERMIT_TEST_PG_BIN, else the newest of Debian's /usr/lib/postgresql/*/bin.

    `settings`: more `-c NAME=VALUE` for the server (chaos: max_connections, shared_buffers).
    `role`: a role made at the start that `url` names by default (chaos: not a superuser, so that a
    connection limit applies to it); without it, the postgres superuser. `database`: a database
    made at the start that `url` and `rows` name by default (soak: the one database it shares)."""

    def __init__(self, prefix, settings=None, role=None, database=None):
        self.bin = os.environ.get("PERMIT_TEST_PG_BIN") or self.newest()
        # Short, because a unix socket's path is limited to about 100 bytes; postgres must reach it.
        self.dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.as_server = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self.role, self.database = role, database
        # fsync off loses nothing when only PostgreSQL dies (the kernel keeps what it wrote);
        # synchronous_commit stays on, or a SIGKILL would lose commits the clients were told of.
        self.options = f"-c listen_addresses='' -c unix_socket_directories={self.dir} -c fsync=off -c full_page_writes=off"
        self.options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        self.server("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start()
        self.version = self.psql("postgres", "SHOW server_version").stdout.split()[0]
        if role:
            self.psql("postgres", f"CREATE ROLE {role} LOGIN")
        if database:
            self.create_database(database)

    @staticmethod
    def newest():
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise RuntimeError("PostgreSQL's server binaries are not installed: run scripts/setup")
        return os.path.dirname(found[-1])

    @property
    def major(self):
        return self.version.split(".")[0]

    def server(self, tool, *args, check=True):
        """Runs one of the server's tools (initdb, pg_ctl) as the user the cluster runs as."""
        # Files, not pipes: the server that pg_ctl starts would inherit a pipe and hold it open.
        with open(os.path.join(self.dir, "ctl.out"), "ab") as out:
            r = subprocess.run([*self.as_server, os.path.join(self.bin, tool), *args], stdin=subprocess.DEVNULL,
                               stdout=out, stderr=out, timeout=120)
        if check and r.returncode != 0:
            log = open(self.log, errors="replace").read()[-600:] if os.path.exists(self.log) else ""
            raise RuntimeError(f"{tool} exited {r.returncode}: {log}")
        return r.returncode

    def start(self):
        self.server("pg_ctl", "-D", self.data, "-l", self.log, "-o", self.options, "-w", "-t", "60", "start")

    def restart_fast(self):
        self.server("pg_ctl", "-D", self.data, "-l", self.log, "-o", self.options, "-m", "fast", "-w", "-t", "60", "restart")

    def restart(self, down=0.0):
        """`pg_ctl restart -m fast`; with `down` seconds, a fast stop, that long down, and a start."""
        if not down:
            self.restart_fast()
            return
        self.server("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
        time.sleep(down)
        self.start()

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill(self):
        """SIGKILL to the postmaster and every backend (pg_ctl starts it in a session of its own,
        so its process group is exactly the cluster's processes); then wait for them to be gone."""
        pid = self.postmaster_pid()
        os.killpg(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def stop_command(self):
        """The shell that stops the cluster at once and removes its directory (a watchdog runs it too)."""
        prefix = "runuser -u postgres -- " if self.as_server else ""
        return f"{prefix}'{self.bin}/pg_ctl' -D '{self.data}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{self.dir}'"

    def stop(self):
        subprocess.run(["sh", "-c", self.stop_command()])

    def url(self, database=None, user=None):
        return f"postgres://{user or self.role or 'postgres'}@/{database or self.database}?host={self.dir}"

    def psql(self, database, sql, user="postgres", check=True):
        """Runs SQL as someone with access to the database would: fields separated by \\x1f."""
        r = subprocess.run([f"{self.bin}/psql", "-X", "-q", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                            "-U", user, "-d", database, "-c", sql], capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql {sql[:60]!r}: {r.stderr.strip()}")
        return r

    def rows(self, sql, schema=None, database=None):
        """What a query returns, as the superuser: rows of strings (None for NULL); `schema`: the
        search path (an authority's store is a schema of its own)."""
        if schema:
            sql = f"SET search_path TO {schema}; {sql}"
        out = self.psql(database or self.database, sql).stdout
        return [tuple(None if v == "" else v for v in line.split("\x1f")) for line in out.splitlines()]

    def create_database(self, name, tablespace=None):
        owner = f" OWNER {self.role}" if self.role else ""
        self.psql("postgres", f"CREATE DATABASE {name}{owner}" + (f" TABLESPACE {tablespace}" if tablespace else ""))
        return self.url(name)


class Store:
    """The store a deployment runs on: SQLite in its data directory, or a database of the cluster."""

    def __init__(self, kind, cluster=None):
        self.kind, self.cluster = kind, cluster

    def __str__(self):
        return "SQLite" if self.kind == "sqlite" else f"PostgreSQL {self.cluster.major}"


def database_name(root):
    """The database a deployment makes in its store's cluster: named after its directory."""
    return "permit_" + re.sub(r"[^a-z0-9]", "_", os.path.basename(root).lower())


class Server:
    """`permit serve` on a loopback port; killed with any signal, restarted on the same port.
    With `database`, on that PostgreSQL store (`--database URL`) instead of the data directory's
    SQLite file; `log` is the file its standard error is appended to. Started through PROCESSES."""

    def __init__(self, permit, data, env, port=0, database=None, log=None):
        self.permit, self.data, self.env, self.database = permit, data, env, database
        self.log_path = log or os.path.join(os.path.dirname(os.path.dirname(data)),
                                            f"serve-{os.path.basename(os.path.dirname(data))}.log")
        self.log = open(self.log_path, "ab")
        argv = [permit, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
        if database:
            argv += ["--database", database]
        # The request log (LOG_LEVEL=info: one line per request with its status) counts the statuses.
        self.proc = PROCESSES.spawn(argv, stdout=subprocess.PIPE, stderr=self.log, env=dict(env, LOG_LEVEL="info"))
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on "):
            self.proc.wait(timeout=30)
            raise RuntimeError(f"permit serve printed {line!r}")
        self.url = line[len("listening on "):].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        PROCESSES.write()  # its id is no longer the watchdog's to kill

    def restart(self, env=None):
        self.kill()
        for _ in range(50):  # the port may linger a moment after SIGKILL
            try:
                return Server(self.permit, self.data, env or self.env, self.port, self.database, self.log_path)
            except RuntimeError:
                time.sleep(0.1)
        raise RuntimeError("the server did not restart")


class Deployment:
    """A data directory, the parties' directories and their keys (with `parties`), and (with `serve`)
    a server on it. Its store: the data directory's SQLite file; with `store` a Store of a cluster,
    a database it makes there (database_name, in `tablespace` if given); with `database`, the URL
    of a PostgreSQL database made already, for `init` and every local verb (the data directory then
    holds only the keys and the trust list)."""

    def __init__(self, permit, root, store=None, firms=2, copies=1, data_parent=None, tablespace=None,
                 database=None, parties=True, serve=True):
        self.permit, self.root = permit, root
        self.store = store or Store("sqlite")
        os.makedirs(root, exist_ok=True)
        self.data = os.path.join(data_parent or root, "data")
        self.env = dict(os.environ, LANG="C.UTF-8", PERMIT_NOW=NOW)
        for name in ("PERMIT_SERVER", "PERMIT_DATABASE", "PERMIT_HOME"):
            self.env.pop(name, None)
        self.database, self.dbname = database, None
        if self.store.kind == "postgres" and not database:
            self.dbname = database_name(root)
            self.database = self.store.cluster.create_database(self.dbname, tablespace)
        code, name, phone = AUTHORITY
        self.local("init", "--authority", code, "--name", name, "--phone", phone)
        self.admin = os.path.join(self.data, "admin-key.pem")
        self.firms = self.add_parties(self.admin, firms, copies) if parties else []
        self.server = Server(permit, self.data, self.env, database=self.database) if serve else None

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
        r = subprocess.run([self.permit, *args, "--data-dir", self.data, *database], env=self.env,
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"permit {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def remote(self, party, *args, now=NOW, timeout=120):
        env = dict(self.env, PERMIT_NOW=now, PERMIT_HOME=os.path.join(self.party(party), "no-data-here"))
        return subprocess.run([self.permit, *args, "--server", self.server.url], cwd=self.party(party), env=env,
                              capture_output=True, text=True, timeout=timeout)

    def remote_background(self, party, *args):
        env = dict(self.env, PERMIT_HOME=os.path.join(self.party(party), "no-data-here"))
        return PROCESSES.spawn([self.permit, *args, "--server", self.server.url], cwd=self.party(party), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # What the store holds, read directly: rows of strings (None for NULL), whichever the store
    # (SQLite, or the database it made in its store's cluster).
    def rows(self, sql):
        if self.database:
            if not self.dbname:
                raise RuntimeError("the deployment's database was made elsewhere: read it through its cluster")
            return self.store.cluster.rows(sql, database=self.dbname)
        with sqlite3.connect(f"file:{os.path.join(self.data, 'permit.sqlite')}?mode=ro", uri=True) as c:
            return [tuple(None if v is None else str(v) for v in r) for r in c.execute(sql)]

    def stored_references(self):
        return collections.Counter((r[0], r[1]) for r in self.rows("SELECT creditCode, reference FROM application"))

    def stored_decisions(self):
        return collections.Counter((int(r[0]), r[1]) for r in self.rows("SELECT applicationID, department FROM decision"))

    def permits_per_application(self):
        return collections.Counter(int(r[0]) for r in self.rows("SELECT applicationID FROM permit"))

    def serials(self):
        return sorted(int(r[0]) for r in self.rows("SELECT serial FROM permit"))

    def application_ids(self):
        return {f"A{int(r[0]):06d}": int(r[0]) for r in self.rows("SELECT id FROM application")}

    def half_written(self):
        """Applications without their required departments, permits without their application's
        state, decisions of an application not routed to that department: 0 when every
        transaction was all or nothing."""
        return int(self.rows("""SELECT (SELECT COUNT(*) FROM application a WHERE NOT EXISTS
                                          (SELECT 1 FROM requiredDepartment r WHERE r.applicationID = a.id))
                                     + (SELECT COUNT(*) FROM permit p JOIN application a ON a.id = p.applicationID
                                          WHERE a.state <> 'issued')
                                     + (SELECT COUNT(*) FROM decision d WHERE NOT EXISTS (SELECT 1 FROM requiredDepartment r
                                          WHERE r.applicationID = d.applicationID AND r.department = d.department))""")[0][0])

    def audit(self):
        r = self.local("audit", "verify", check=False)
        return "OK" if r.returncode == 0 and "audit OK" in r.stdout else f"FAILED: {(r.stdout + r.stderr).strip()[-200:]}"

    def stop(self):
        if self.server:
            self.server.kill(signal.SIGTERM)
