#!/usr/bin/env python3
"""One verdict everywhere: the offline web verifier (Web/verify/) against `permit verify`.

1. Makes fresh keys and lists with the real CLI: two authorities (`permit init`), one rotated to
   an ES256 key (`permit keys rotate`), a national ES256 root (`permit keys generate`) signing the
   merged trust list (`permit trust merge`), and permits sealed by `permit seal`. Revocation lists
   and every forged payload are made here with cbor2 and the `cryptography` package.
2. Builds a corpus (valid EdDSA and ES256 payloads, forgeries, expired and not yet valid, revoked,
   plate mismatches, zlib bombs, random mutations, texts that are not permits), each with its own
   "now" and plate.
3. Runs the corpus through `permit verify --json --at ... [--plate ...]` and through the page in
   headless Chromium (Selenium + chromedriver, window.permitVerifier.verifyBatch), served by a
   small HTTP server on 127.0.0.1 that mimics the deployment's paths and fills the root
   placeholder; compares outcome, reason, stage, warnings, number and signer case by case.
4. Checks the page as an officer uses it (the scanner field, the English toggle, a photo of a
   permit issued through the workflow sent to POST /v1/verify), its list handling (an older
   sequence, an altered list, another root, a pinned root), then goes offline, reloads, and
   verifies from the stored lists with a clock past nextUpdate.
   The camera flow runs end to end in a second Chromium (camera_check) with stand-ins for the
   two parts that cannot run here: Chromium's fake camera (a real getUserMedia stream of generated
   frames) and an injected BarcodeDetector that answers a corpus payload once handed a real frame.
5. Times one payload in the page (median of 200) beside the CLI's per-payload time.
6. Loads the page from a real `permit serve` (the Swift server, not the harness's) on authority
   A's data directory in a fresh browser profile: the root filled in, the lists fetched, the
   service worker registered, and a photo of the permit's card checked through its POST
   /v1/verify; then SIGTERM, and the server must exit 0.
7. With --screenshots DIR: pass, refusal and offline-stale screenshots at 390x844.

Usage: web-verifier.py PERMIT_BINARY [--screenshots DIR] [--cases N]
Prints "web-verifier: N cases, N differences" and ends with "N passed, N failed".
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import base45
import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WEB = os.path.join(ROOT, "Web", "verify")
PLACEHOLDER = "__PERMIT_ROOT_SPKI_BASE64__"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}"[:2000])
    return ok


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


# ---------- keys and COSE, independently of the Swift code ----------

def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def spki(key):
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def kid_of(key):
    return hashlib.sha256(spki(key)).digest()[:8]


def is_ed(key):
    return isinstance(key, ed25519.Ed25519PrivateKey)


def raw_sign(key, message):
    if is_ed(key):
        return key.sign(message)
    r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sig_structure(protected, payload):
    return cbor2.dumps(["Signature1", protected, b"", payload])


def cose_sign1(payload, key, alg=None, kid=None, protected=None, unprotected=None, tag=18, sign_protected=None):
    """COSE_Sign1 bytes. protected: a dict to encode, or bytes as they are."""
    if alg is None:
        alg = -8 if is_ed(key) else -7
    if kid is None:
        kid = kid_of(key)
    if protected is None:
        protected = {1: alg, 4: kid}
    prot = protected if isinstance(protected, bytes) else cbor2.dumps(protected)
    sig = raw_sign(key, sig_structure(prot if sign_protected is None else sign_protected, payload))
    body = [prot, unprotected if unprotected is not None else {}, payload, sig]
    return cbor2.dumps(cbor2.CBORTag(tag, body) if tag is not None else body)


def fp1(cose_bytes, compress=True, level=9):
    data = zlib.compress(cose_bytes, level) if compress else cose_bytes
    return "FP1:" + base45.b45encode(data).decode()


def fp1_raw(data):
    return "FP1:" + base45.b45encode(data).decode()


def decode_text(text):
    data = base45.b45decode(text[4:])
    raw = zlib.decompress(data)
    item = cbor2.loads(raw)
    return raw, item.value  # [protected, unprotected, payload, signature]


def revocation_hash(signature):
    return hashlib.sha256(signature).digest()[:16].hex()


def signed_list(doc, key):
    payload = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return cose_sign1(payload, key)


# ---------- the CLI's world ----------

class World:
    def __init__(self, permit, work):
        self.permit = permit
        self.work = work
        self.a = os.path.join(work, "a")
        self.b = os.path.join(work, "b")
        env = dict(os.environ, PERMIT_NOW="2026-11-01T00:00:00Z")
        def cli(*args, env=env):
            r = run([permit, *args], env=env)
            if r.returncode != 0:
                raise SystemExit(f"web-verifier: permit {' '.join(args)} failed: {r.stderr or r.stdout}")
            return r.stdout
        self.cli = cli
        cli("init", "--data-dir", self.a, "--authority", "330114", "--name", "杭州市钱塘区交通运输局",
            "--name-en", "Qiantang District Transport Bureau", "--phone", "0571-86000000")
        cli("init", "--data-dir", self.b, "--authority", "330106", "--name", "杭州市西湖区交通运输局",
            "--name-en", "Xihu District Transport Bureau", "--phone", "0571-87000000")
        cli("keys", "rotate", "--data-dir", self.b, "--alg", "ES256", "--admin-key", os.path.join(self.b, "admin-key.pem"),
            env=dict(env, PERMIT_NOW="2026-11-20T00:00:00Z"))
        self.root_path = os.path.join(work, "national-root.pem")
        cli("keys", "generate", "--alg", "ES256", "--out", self.root_path, "--pub")
        self.root_pub_path = self.root_path + ".pub"
        self.trust_path = os.path.join(work, "national.cose")
        self.merge(self.trust_path, 7)
        self.old_trust = self.merge(os.path.join(work, "national-old.cose"), 5)
        self.newer_trust = self.merge(os.path.join(work, "national-newer.cose"), 8)
        other_root = os.path.join(work, "other-root.pem")
        cli("keys", "generate", "--alg", "EdDSA", "--out", other_root)
        self.foreign_trust = self.merge(os.path.join(work, "national-foreign.cose"), 9, root=other_root)
        self.other_root_spki_b64 = base64.b64encode(spki(load_key(other_root))).decode()

        self.key_a = load_key(os.path.join(self.a, "issuer-key.pem"))
        self.key_b = load_key(os.path.join(self.b, "issuer-key.pem"))  # ES256 since the rotation
        retired = os.path.join(self.b, "retired-keys")
        self.key_b_old = load_key(os.path.join(retired, os.listdir(retired)[0]))
        self.root = load_key(self.root_path)
        self.root_spki_b64 = base64.b64encode(spki(self.root)).decode()
        with open(self.trust_path, "rb") as f:
            self.trust_bytes = f.read()

    def issue_permit_card(self):
        """A permit issued through the workflow in authority A's data directory (an approver, an
        applicant, apply, approve), exported as the phone card PNG: what a driver shows."""
        env = dict(os.environ, PERMIT_NOW="2026-11-30T09:00:00+08:00")
        keys = os.path.join(self.work, "keys")
        os.makedirs(keys, exist_ok=True)
        admin = os.path.join(self.a, "admin-key.pem")
        app = os.path.join(ROOT, "Tests", "Fixtures", "typical-permit.json")
        with open(app, encoding="utf-8") as f:
            doc = json.load(f)
        for k in ("number", "approvedBy", "issuedAt", "conditions"):
            doc.pop(k, None)
        doc["reference"] = "WV-CARD-1"
        path = os.path.join(self.work, "application.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        health, firm = os.path.join(keys, "health.pem"), os.path.join(keys, "firm.pem")
        self.cli("approver", "add", "--data-dir", self.a, "--department", "HEALTH", "--name", "张审批", "--generate", health, "--admin-key", admin, env=env)
        self.cli("applicant", "add", "--data-dir", self.a, "--credit-code", doc["applicant"]["creditCode"], "--name", doc["applicant"]["name"],
                 "--generate", firm, "--admin-key", admin, env=env)
        self.cli("apply", "--data-dir", self.a, "--key", firm, path, "--json", env=env)
        out = self.cli("approve", "--data-dir", self.a, "--department", "HEALTH", "--key", health, "--all", "--json", env=env)
        number = next(json.loads(l)["permitNumber"] for l in out.splitlines() if l.strip() and json.loads(l).get("permitNumber"))
        card = os.path.join(self.work, "card.png")
        self.cli("export", "--data-dir", self.a, number, "--format", "png", "-o", card, env=env)
        return card, number

    def merge(self, out, sequence, root=None):
        self.cli("trust", "merge", os.path.join(self.a, "trust-list.cose"), os.path.join(self.b, "trust-list.cose"),
                 "--list-root", os.path.join(self.a, "root.pub.pem"), "--list-root", os.path.join(self.b, "root.pub.pem"),
                 "--root-key", root or self.root_path, "-o", out, "--sequence", str(sequence),
                 "--next-update", "2026-12-20T00:00:00Z")
        with open(out, "rb") as f:
            return f.read()

    def seal(self, doc, key_path):
        path = os.path.join(self.work, "doc.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        return self.cli("seal", "--key", key_path, "--claims", path).strip()


# ---------- permit documents ----------

NAMES = ["刘建国", "王秀英", "张伟", "李娜", "陈静", "杨洋", "赵磊", "黄敏", "周杰", "吴芳", "徐强", "孙丽"]
PLATES = [("浙A12345", "yellow"), ("浙AD12345", "green"), ("苏E88888", "blue"), ("浙B6789F", "yellow-green")]
CATEGORIES = ["medical-supplies", "daily-necessities", "cold-chain-food", "mail-and-parcels", "energy", "dangerous-goods"]
DEPTS = ["HEALTH", "COMMERCE", "MARKET_REGULATION", "POSTAL", "ENERGY", "TRANSPORT"]
WINDOWS = [("2026-12-01", "2026-12-15"), ("2026-12-03", "2026-12-31")]


def permit_doc(rng, authority, serial, issued_at, window):
    plate, colour = PLATES[serial % len(PLATES)]
    crew = []
    names = rng.sample(NAMES, 3)
    for i in range(1 + serial % 3):
        crew.append({"name": names[i], "idNumber": "330106198001011235" if i != 1 else "330102198506152468",
                     "phone": "13812345678", "role": "driver" if i == 0 else "escort"})
    cats = rng.sample(CATEGORIES, 1 + serial % 2)
    doc = {
        "reference": f"WV-{authority}-{serial}",
        "applicant": {"name": "杭州钱塘物流有限公司", "creditCode": "91330114MA24WY722X", "contact": "刘建国", "phone": "13800005678"},
        "vehicle": {"plate": plate, "plateColor": colour, "type": "重型厢式货车"},
        "crew": crew,
        "cargo": {"categories": cats, "description": rng.choice(["医用口罩、防护服", "生活物资", "冷链蔬菜", "快递包裹"]),
                  "weightKg": rng.randint(1000, 30000)},
        "route": {"origin": {"county": authority}, "destination": {"county": "320508"}},
        "validity": {"from": window[0], "to": window[1]},
        "trips": "multiple" if serial % 2 else "single",
        "number": f"{authority}{serial:06d}",
        "approvedBy": [DEPTS[serial % len(DEPTS)]],
        "issuedAt": issued_at,
    }
    if serial % 5 == 0:
        doc["route"]["origin"]["address"] = "钱塘区义蓬街道"
    if serial % 7 == 0:
        doc["conditions"] = ["限夜间通行"]
    return doc


def day_start(day):
    import datetime
    y, m, d = map(int, day.split("-"))
    tz = datetime.timezone(datetime.timedelta(hours=8))
    return int(datetime.datetime(y, m, d, tzinfo=tz).timestamp())


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


# ---------- the corpus ----------

def build_corpus(world, rng, target):
    cases = []

    def add(kind, text, at, plate=None):
        cases.append({"id": len(cases), "kind": kind, "text": text, "at": iso(at), "plate": plate})

    mid = day_start("2026-12-05") + 4 * 3600
    late = day_start("2027-01-10")

    sealed = []  # (text, doc, key)
    a_path = os.path.join(world.a, "issuer-key.pem")
    b_path = os.path.join(world.b, "issuer-key.pem")
    b_old_path = os.path.join(world.b, "retired-keys", os.listdir(os.path.join(world.b, "retired-keys"))[0])
    for serial in range(1, 25):
        doc = permit_doc(rng, "330114", serial, "2026-11-30T04:00:00Z", WINDOWS[serial % 2])
        sealed.append((world.seal(doc, a_path), doc, world.key_a))
    for serial in range(1, 25):
        doc = permit_doc(rng, "330106", serial, "2026-11-30T05:00:00Z", WINDOWS[serial % 2])
        sealed.append((world.seal(doc, b_path), doc, world.key_b))
    for serial in range(90, 94):
        doc = permit_doc(rng, "330106", serial, "2026-11-15T05:00:00Z", WINDOWS[serial % 2])
        sealed.append((world.seal(doc, b_old_path), doc, world.key_b_old))

    # Revocation lists: authority A's signed by its issuer key, B's by the national root.
    revoked_a = [decode_text(t)[1][3] for t, d, k in sealed[:24][::5]]
    revoked_b = [decode_text(t)[1][3] for t, d, k in sealed[24:48][::6]]
    def rev_doc(authority, sigs, sequence, next_update):
        return {"format": "freight-permit-revocations", "version": 1, "authority": authority, "sequence": sequence,
                "issuedAt": "2026-12-01T00:00:00Z", "nextUpdate": next_update,
                "revoked": [{"hash": revocation_hash(s), "revokedAt": "2026-12-01T00:00:00Z", "reason": "车辆超载"} for s in sigs]}
    world.rev_a = signed_list(rev_doc("330114", revoked_a, 3, "2026-12-10T00:00:00Z"), world.key_a)
    world.rev_b = signed_list(rev_doc("330106", revoked_b, 2, "2026-12-25T00:00:00Z"), world.root)
    world.rev_a_old = signed_list(rev_doc("330114", [], 1, "2026-12-30T00:00:00Z"), world.key_a)

    # 1. Every sealed permit at several times, with and without a plate.
    for text, doc, key in sealed:
        nbf = day_start(doc["validity"]["from"])
        exp = day_start(doc["validity"]["to"]) + 86400
        own = doc["vehicle"]["plate"]
        add("sealed", text, mid)
        add("sealed-plate", text, mid, own[:2] + "·" + own[2:].lower())
        add("sealed-plate", text, mid, "浙A99999" if own != "浙A99999" else "浙A11111")
        add("edge", text, nbf - 300)
        add("edge", text, nbf - 301)
        add("edge", text, exp + 299)
        add("edge", text, exp + 300)
        add("late", text, late)

    # 2. Forgeries from the claims of sealed permits.
    fresh_ed = ed25519.Ed25519PrivateKey.generate()
    fresh_p256 = ec.generate_private_key(ec.SECP256R1())
    a_kid, b_kid, b_old_kid = kid_of(world.key_a), kid_of(world.key_b), kid_of(world.key_b_old)
    base = [(decode_text(t), d, k) for t, d, k in sealed]

    def claims_of(i):
        return cbor2.loads(base[i][0][1][2])

    def resign(claims, key, **kw):
        payload = claims if isinstance(claims, bytes) else cbor2.dumps(claims, canonical=True)
        return fp1(cose_sign1(payload, key, **kw))

    for i in range(0, 48, 2):
        (raw, parts), doc, key = base[i]
        payload = parts[2]
        own_kid = kid_of(key)
        add("unknownKey", fp1(cose_sign1(payload, fresh_ed)), mid)
        add("unknownKey", fp1(cose_sign1(payload, fresh_p256)), mid)
        add("foreignKey", fp1(cose_sign1(payload, fresh_ed if is_ed(key) else fresh_p256, kid=own_kid)), mid)
        add("algSwap", fp1(cose_sign1(payload, key, alg=-7 if is_ed(key) else -8)), mid)
        add("algFull", fp1(cose_sign1(payload, key, alg=-19 if is_ed(key) else -9)), mid)
        add("algOther", fp1(cose_sign1(payload, key, alg=rng.choice([-35, -36, -37, 1, -257, -47]))), mid)
        add("kidUnprotected", fp1(cose_sign1(payload, key, protected={1: -8 if is_ed(key) else -7}, unprotected={4: own_kid})), mid)
        add("untagged", fp1(cose_sign1(payload, key, tag=None)), mid)
        add("uncompressed", fp1(cose_sign1(payload, key), compress=False), mid)
        add("uncompressedUntagged", fp1(cose_sign1(payload, key, tag=None), compress=False), mid)
        add("zlibLevel", fp1(raw, level=rng.choice([0, 1, 6])), mid)
        sig = parts[3]
        flipped = bytearray(sig)
        flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
        add("sigFlip", fp1(cbor2.dumps(cbor2.CBORTag(18, [parts[0], {}, payload, bytes(flipped)]))), mid)
        add("sigShort", fp1(cbor2.dumps(cbor2.CBORTag(18, [parts[0], {}, payload, sig[:63]]))), mid)
        if not is_ed(key):
            r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            high = r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")
            add("es256HighS", fp1(cbor2.dumps(cbor2.CBORTag(18, [parts[0], {}, payload, high]))), mid)

    def variant(mutate, key=world.key_a, kind="claims", **kw):
        cl = claims_of(0)
        mutate(cl)
        add(kind, resign(cl, key, **kw), mid)

    P = -70001
    variant(lambda c: c.__setitem__(1, "330106"), kind="issuer")
    variant(lambda c: c[P].__setitem__(1, "330106000001"), kind="issuer")
    variant(lambda c: c.__setitem__(1, "330106"), key=world.key_b, kind="issuer")
    variant(lambda c: c.__setitem__(6, day_start("2026-10-01")), kind="keyWindow")
    variant(lambda c: c.__setitem__(6, day_start("2026-11-01") - 28800), kind="keyWindow")  # exactly notBefore
    variant(lambda c: c.__setitem__(6, day_start("2026-11-01") - 28801), kind="keyWindow")
    cb = cbor2.loads(base[24][0][1][2])
    for when, key in [("2026-11-25", world.key_b_old), ("2026-11-10", world.key_b), ("2026-11-19", world.key_b_old)]:
        cl = dict(cb)
        cl[6] = day_start(when)
        add("keyWindow", resign(cl, key), mid)
    cl = dict(cb)
    cl[6] = day_start("2026-11-20") - 28800  # the rotation instant: both keys may sign
    add("keyWindow", resign(cl, world.key_b_old), mid)
    add("keyWindow", resign(cl, world.key_b), mid)

    malformed = [
        lambda c: c[P].pop(1),
        lambda c: c[P].__setitem__(1, "33011400001"),
        lambda c: c[P].__setitem__(1, "33011400000a"),
        lambda c: c[P][2].__setitem__(1, "浙A123456789"),
        lambda c: c[P][2].__setitem__(1, "浙A1234567"),  # 9 scalars
        lambda c: c[P][2].__setitem__(1, "浙A123456"),  # 8: fine
        lambda c: c[P][2].__setitem__(2, -1),
        lambda c: c[P].__setitem__(3, []),
        lambda c: c[P].__setitem__(3, c[P][3] * 4),
        lambda c: c[P][3][0].__setitem__(1, "张" * 11),
        lambda c: c[P][3][0].__setitem__(1, "𠀀" * 10),  # 10 astral scalars: fine
        lambda c: c[P][3][0].__setitem__(1, "𠀀" * 11),
        lambda c: c[P][3][0].__setitem__(1, "e\u0301" * 5),  # 10 scalars: fine
        lambda c: c[P][3][0].__setitem__(1, "e\u0301" * 6),
        lambda c: c[P][3][0].__setitem__(4, 7),  # unknown role: fine
        lambda c: c[P][3][0].__setitem__(4, "1"),
        lambda c: c[P][3][0].__setitem__(2, "x" * 33),
        lambda c: c[P][3][0].__setitem__(3, "1" * 21),
        lambda c: c[P][4].__setitem__(1, []),
        lambda c: c[P][4].__setitem__(1, [1, -2]),
        lambda c: c[P][4].__setitem__(1, [99]),  # unknown category: fine
        lambda c: c[P][4].__setitem__(2, "口" * 25),
        lambda c: c[P][4].__setitem__(2, "口" * 24),
        lambda c: c[P][4].__setitem__(3, "12000"),
        lambda c: c[P][4].pop(3, None),
        lambda c: c[P][5].__setitem__(2, "地" * 17),
        lambda c: c[P][5].__setitem__(2, "地" * 16),
        lambda c: c[P][5].__setitem__(1, "330114"),
        lambda c: c[P].__setitem__(7, [330100] * 6),
        lambda c: c[P].__setitem__(7, [330100] * 5),
        lambda c: c[P].__setitem__(7, []),
        lambda c: c[P].__setitem__(7, {}),
        lambda c: c[P].__setitem__(8, []),
        lambda c: c[P].__setitem__(8, [1.0]),
        lambda c: c[P][9].__setitem__(1, "公" * 25),
        lambda c: c[P][9].__setitem__(2, "9" * 19),
        lambda c: c[P].__setitem__(10, -1),
        lambda c: c[P].__setitem__(11, ["条件"] * 3),
        lambda c: c[P].__setitem__(11, ["条" * 21]),
        lambda c: c[P].__setitem__(11, ["条" * 20, "二"]),
        lambda c: c[P].__setitem__(11, [1]),
        lambda c: c[P].__setitem__(12, "extra"),  # unknown key: fine
        lambda c: c.__setitem__(99, "extra"),  # unknown claim: fine
        lambda c: c.__setitem__(4, c[5]),  # exp == nbf
        lambda c: c.__setitem__(4, c[5] + 1),
        lambda c: c.__setitem__(4, 2 ** 62),
        lambda c: c.__setitem__(4, 2 ** 53 + 1),
        lambda c: c.__setitem__(6, 2 ** 62),
        lambda c: c.__setitem__(5, 0),
        lambda c: c.__setitem__(6, -5),
        lambda c: c.__setitem__(1, "33011"),
        lambda c: c.__setitem__(1, 330114),
        lambda c: c.__setitem__(1, "３３０１１４"),
        lambda c: c.pop(P),
        lambda c: c.__setitem__(P, []),
        lambda c: c.__setitem__(-70002, c.pop(P)),
        lambda c: c[P].__setitem__(2, {1: "浙A12345"}),
        lambda c: c[P].__setitem__(5, 330114),
        lambda c: c[P].__setitem__(9, {1: "公司", 2: "x", 3: "extra"}),
        lambda c: c[P][2].__setitem__(1, cbor2.CBORTag(32, "x")),
        lambda c: c[P][3][0].__setitem__(1, "\ufeff刘建国"),
        lambda c: c[P][3][0].__setitem__(1, ""),
    ]
    for m in malformed:
        variant(m, kind="claims")

    # Hand-made claims bytes: duplicate keys, indefinite lengths, nesting, trailing bytes.
    good = cbor2.dumps(claims_of(0), canonical=True)
    assert good[0] == 0xA5
    def wrap_extra(value_bytes):  # the claims with one extra claim 99 holding value_bytes
        return bytes([0xA6]) + good[1:] + b"\x18\x63" + value_bytes
    raw_claims = [
        bytes([0xA6]) + good[1:] + good[1:1 + len(cbor2.dumps(1)) + len(cbor2.dumps("330114"))],  # iss twice
        good + b"\x00",
        good[:-1],
        bytes([0xBF]) + good[1:] + b"\xff",  # indefinite top-level map: fine
        wrap_extra(b"\x9f" * 15 + b"\xff" * 15),
        wrap_extra(b"\x9f" * 16 + b"\xff" * 16),
        wrap_extra(b"\x9f" * 17 + b"\xff" * 17),
        wrap_extra(b"\x81" * 30 + b"\x00"),
        wrap_extra(b"\x81" * 31 + b"\x00"),
        wrap_extra(b"\x81" * 32 + b"\x00"),
        wrap_extra(b"\xa1\x01\x01\x01\x02"),  # duplicate key in a nested map
        wrap_extra(b"\xa2\x61\x61\x01\x61\x61\x02"),
        wrap_extra(b"\xa2\x63e\xcc\x81\x01\x62\xc3\xa9\x02"),  # "é" decomposed and composed: equal in Swift
        wrap_extra(b"\xa2\xf9\x3c\x00\x01\xfa\x3f\x80\x00\x00\x02"),  # 1.0 as half and single
        wrap_extra(b"\xa2\xf9\x7e\x00\x01\xf9\x7e\x00\x02"),  # NaN twice: never equal
        wrap_extra(b"\xf8\x10"),
        wrap_extra(b"\xf8\x20"),
        wrap_extra(b"\xfc"),
        wrap_extra(b"\xff"),
        wrap_extra(b"\x1c"),
        wrap_extra(b"\x62\xc3\x28"),
        wrap_extra(b"\x63\xed\xa0\x80"),  # an encoded surrogate
        wrap_extra(b"\x7f\x61a\x62\xc3\xa9\xff"),
        wrap_extra(b"\x7f\x61\xc3\x61\xa9\xff"),  # UTF-8 split across chunks
        wrap_extra(b"\x7f\x41a\xff"),
        wrap_extra(b"\x5f\x41a\x5f\xff\xff"),
        wrap_extra(b"\x3b\x80\x00\x00\x00\x00\x00\x00\x00"),
        wrap_extra(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff"),
        wrap_extra(b"\xc6\xc6\xc6\x00"),
        wrap_extra(b"\x1f"),
        wrap_extra(b"\xdf\x00"),
    ]
    for rc in raw_claims:
        add("rawClaims", resign(rc, world.key_a), mid)

    # COSE structure and headers.
    payload0 = base[1][0][1][2]  # sealed[1]: not revoked, so structural variants that verify are valid
    key0 = world.key_a
    prot0 = cbor2.dumps({1: -8, 4: a_kid})
    sig0 = raw_sign(key0, sig_structure(prot0, payload0))
    def raw_cose(obj):
        return fp1(cbor2.dumps(obj))
    structures = [
        cbor2.CBORTag(61, [prot0, {}, payload0, sig0]),
        cbor2.CBORTag(61, cbor2.CBORTag(18, [prot0, {}, payload0, sig0])),
        cbor2.CBORTag(18, cbor2.CBORTag(18, [prot0, {}, payload0, sig0])),
        cbor2.CBORTag(18, [prot0, {}, payload0]),
        cbor2.CBORTag(18, [prot0, {}, payload0, sig0, b""]),
        cbor2.CBORTag(18, [{1: -8, 4: a_kid}, {}, payload0, sig0]),
        cbor2.CBORTag(18, [prot0, [], payload0, sig0]),
        cbor2.CBORTag(18, [prot0, {}, None, sig0]),
        cbor2.CBORTag(18, [prot0, {}, payload0, "sig"]),
        cbor2.CBORTag(18, [b"\x01", {}, payload0, sig0]),
        cbor2.CBORTag(18, [b"\xa1\x01", {}, payload0, sig0]),
        cbor2.CBORTag(18, [prot0 + b"\x00", {}, payload0, sig0]),
        cbor2.CBORTag(18, [prot0, {4: a_kid}, payload0, sig0]),
        cbor2.CBORTag(18, [prot0, {99: "x"}, payload0, sig0]),
        {"a": 1},
        [1, 2, 3, 4],
        "text",
    ]
    for s in structures:
        add("cose", raw_cose(s), mid)
    # Hand-made COSE bytes.
    body = cbor2.dumps([prot0, {}, payload0, sig0])
    hand = [
        b"\xd8\x12" + body,  # tag 18 in a two-byte head
        b"\xd2" + body + b"\x00",
        b"\xd2\x9f" + body[1:] + b"\xff",  # indefinite array
        b"\xd2\x84" + cbor2.dumps(prot0) + b"\xa2\x01\x01\x01\x02" + cbor2.dumps(payload0) + cbor2.dumps(sig0),  # duplicate in unprotected
        b"\xd2\x84\x5f" + cbor2.dumps(prot0[:3]) + cbor2.dumps(prot0[3:]) + b"\xff\xa0" + cbor2.dumps(payload0) + cbor2.dumps(sig0),
        b"\xd2\x84\x5a" + len(prot0).to_bytes(4, "big") + prot0 + b"\xa0" + cbor2.dumps(payload0) + cbor2.dumps(sig0),
        b"\xd2\x84\x5b" + len(prot0).to_bytes(8, "big") + prot0 + b"\xa0" + cbor2.dumps(payload0) + cbor2.dumps(sig0),
        b"\xd2",
        b"\x84",
        b"\xd2\x84",
    ]
    for h in hand:
        add("coseBytes", fp1(h), mid)
        add("coseBytesRaw", fp1(h, compress=False), mid)
    # Protected headers: duplicate keys, alg missing or in the unprotected header, kid not bytes, empty map.
    headers = [
        (b"\xa3\x01\x27\x04\x48" + a_kid + b"\x01\x27", None),
        ({4: a_kid}, {1: -8}),
        ({1: -8}, None),
        ({1: -8, 4: "dfb9a887"}, None),
        ({1: -8, 4: a_kid.hex().encode()}, None),
        ({1: -8, 4: a_kid + b"\x00"}, None),
        ({1: "EdDSA", 4: a_kid}, None),
        ({1: 2 ** 63, 4: a_kid}, None),
        ({1: -8.0, 4: a_kid}, None),
        (b"\xa0", None),
        (b"", None),
        ({1: -8, 4: a_kid, 99: "extra"}, None),
        ({1: -8, 4: a_kid, "x": b"y"}, {4: b"other"}),
        ({1: -8}, {4: a_kid}),
        ({1: -8}, {4: b_kid}),
        ({1: -7}, {4: b_kid}),
    ]
    for prot, unprot in headers:
        pb = prot if isinstance(prot, bytes) else cbor2.dumps(prot)
        key = world.key_b if unprot == {4: b_kid} and prot == {1: -7} else key0
        add("headers", fp1(cose_sign1(payload0 if key is key0 else base[24][0][1][2], key, protected=pb, unprotected=unprot)), mid)

    # zlib: bombs, exact bounds, other framings.
    cose0 = base[1][0][0]
    def padded_cose(total):
        # a valid permit whose COSE_Sign1 is exactly `total` bytes: an extra claim 99 of zeros
        cl = claims_of(0)
        n = total
        for _ in range(8):
            cl[99] = bytes(max(0, n))
            cb_ = cose_sign1(cbor2.dumps(cl, canonical=True), key0)
            if len(cb_) == total:
                break
            n -= len(cb_) - total
        return cb_
    for total in (65535, 65536, 65537):
        cb_ = padded_cose(total)
        add(f"inflate{len(cb_)}", fp1(cb_), mid)
    add("bomb", fp1_raw(zlib.compress(bytes(1 << 20), 9)), mid)
    add("bomb", fp1_raw(zlib.compress(cose0 + bytes(70000), 9)), mid)
    comp = zlib.compress(cose0, 9)
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw_deflate = raw_deflate.compress(cose0) + raw_deflate.flush()
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    gz = gz.compress(cose0) + gz.flush()
    bad_adler = comp[:-1] + bytes([comp[-1] ^ 1])
    zl = [comp + b"\x00", comp + comp, comp[:-4], comp[:-1], comp[:10], raw_deflate, gz, bad_adler, b"", b"\x78", b"\x78\x9c",
          b"\x78\x9c\x03\x00\x00\x00\x00\x01", b"\x78\xda" + raw_deflate + zlib.adler32(cose0).to_bytes(4, "big"),
          b"\x08\x1d" + raw_deflate + zlib.adler32(cose0).to_bytes(4, "big"),  # window 256 bytes
          b"\x78\xbb\x00\x00\x00\x00" + raw_deflate]  # FDICT set
    for z in zl:
        add("zlib", fp1_raw(z), mid)

    # 3. Random mutations of valid texts and of their bytes.
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    texts = [t for t, d, k in sealed]
    for _ in range(300):
        t = rng.choice(texts)
        body = list(t[4:])
        op = rng.choice([0, 0, 0, 0, 1, 2, 3, 4, 5])
        if op == 0:
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(len(body))] = rng.choice(alphabet)
        elif op == 1:
            del body[rng.randrange(len(body))]
        elif op == 2:
            body.insert(rng.randrange(len(body)), rng.choice(alphabet))
        elif op == 3:
            body = body[:rng.randrange(len(body))]
        elif op == 4:
            body[rng.randrange(len(body))] = rng.choice("abcxyz#!?&é浙\t")
        else:
            i = rng.randrange(len(body) - 3)
            body[i:i + 3] = ":::"
        add("mutateText", "FP1:" + "".join(body), mid)
    for _ in range(250):
        (raw, parts), doc, key = rng.choice(base)
        data = bytearray(raw)
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256) if rng.random() < 0.5 else data[i] ^ (1 << rng.randrange(8))
        add("mutateBytes", fp1(bytes(data), compress=rng.random() < 0.8), mid)

    # Mutated claims and protected headers, signed again with the trusted key, so that every
    # mutation reaches the CBOR reader and the claims checks behind the signature.
    def mutate(data):
        data = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(4)
            i = rng.randrange(len(data) + (1 if op == 2 else 0))
            if op == 0 and i < len(data):
                data[i] = rng.randrange(256)
            elif op == 1 and i < len(data):
                data[i] ^= 1 << rng.randrange(8)
            elif op == 2:
                data.insert(i, rng.choice([0x00, 0x18, 0x5f, 0x7f, 0x9f, 0xbf, 0xff, 0xf9, 0xc0, rng.randrange(256)]))
            elif len(data) > 1 and i < len(data):
                del data[i]
        return bytes(data)
    for _ in range(250):
        i = rng.randrange(len(base))
        (raw, parts), doc, key = base[i]
        add("mutateClaims", fp1(cose_sign1(mutate(parts[2]), key)), mid)
    for _ in range(60):
        i = rng.randrange(len(base))
        (raw, parts), doc, key = base[i]
        add("mutateProtected", fp1(cose_sign1(parts[2], key, protected=mutate(parts[0]))), mid)

    # 4. Texts that are not permits.
    others = [
        "", "FP1:", "FP1", "fp1:" + texts[0][4:], " " + texts[0], texts[0] + " ", texts[0] + "\t", "FP2:" + texts[0][4:],
        "HC1:6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA.A5:S9MKN4NN3F85QNCY0O%0VZ001HOC9JU0D0HT0HB2PL/IB*09B9LW4T*8+DCMH0LDK2%K:XFE70*LP$V25$0Q:J:4MO1P0%0L0HD+9E/HY+4J6TH48S%4K.GJ2PT3QY:GQ3TE2I+-CPHN6D7LLK*Y0U6JVSN$NF6+HYLH9E4*7C7UB.X2",
        "https://example.invalid/permit/330114000001", "WIFI:S:checkpoint;T:WPA;P:secret;;", "浙A12345", "通行证 330114000001",
        "330114000001", "FP1:" + "0" * 10, "FP1:" + "A" * 299, "FP1:" + "GGW", "FP1:" + ":::", "FP1:" + "ZZZ",
        "FP1:" + "%" * 30, "FP1: ", "FP1:  ", "FP1:   ", "ＦＰ１：" + texts[0][4:], "FP1:" + texts[0],
        "\ufeff" + texts[0], "FP1:\u200b" + texts[0][4:], "BEGIN:VCARD", "{\"number\":\"330114000001\"}",
        "FP1:" + base45.b45encode(b"\xd2").decode(), "FP1:" + base45.b45encode(b"\x84\x40\xa0\x40\x40").decode(),
        "FP1:" + base45.b45encode(b"\xd2\x84\x40\xa0\x40\x40").decode(),
    ]
    for o in others:
        add("notPermit", o, mid)
    for _ in range(max(40, target - len(cases))):
        n = rng.randint(0, 40)
        add("randomText", "FP1:" + "".join(rng.choice(alphabet) for _ in range(n)) if rng.random() < 0.7
            else "".join(chr(rng.randint(32, 0x9fff)) for _ in range(n)), mid)
    # Texts go one per line to the CLI: strip what it strips; an empty text must not be last.
    for c in cases:
        c["text"] = c["text"].replace("\r", "").replace("\n", "")
    return cases, sealed


# ---------- claim times outside the years 1–9999 ----------

TIME_EDGES = [0, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1]
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z
CST = 8 * 3600


def claim_time_cases(world, sealed, first_id):
    """exp, nbf and iat at 0, 2^63 - 1, 2^63 and 2^64 - 1 (and at the end of the year 9999), signed
    with the trusted keys (authority A's EdDSA and B's ES256), so that they pass the signature and
    reach the claims, the key's window and the validity window; the CLI writes each such time as
    the claim's exact decimal seconds, and the page must write the same digits."""
    cases = []
    mid = iso(day_start("2026-12-05") + 4 * 3600)
    top = 2 ** 64 - 1
    times = []  # (exp, nbf, iat) as None for "keep the permit's own"
    for v in TIME_EDGES:
        times += [(v, None, None), (None, v, None), (None, None, v), (top, v, None)]
    times += [(top, 0, 2 ** 63), (2 ** 63, 2 ** 63 - 1, None),
              (top, LAST_SECOND - CST, None), (top, LAST_SECOND - CST + 1, None),  # first day 9999-12-31 or not a date
              (LAST_SECOND - CST + 1, None, None), (LAST_SECOND - CST + 2, None, None),  # last day 9999-12-31 or not
              (None, None, LAST_SECOND), (None, None, LAST_SECOND + 1)]
    for text, key in ((sealed[1][0], world.key_a), (sealed[25][0], world.key_b)):
        base = cbor2.loads(decode_text(text)[1][2])
        for exp, nbf, iat in times:
            cl = dict(base)
            for label, v in ((4, exp), (5, nbf), (6, iat)):
                if v is not None:
                    cl[label] = v
            cases.append({"id": first_id + len(cases), "kind": "claimTime", "at": mid, "plate": None,
                          "text": fp1(cose_sign1(cbor2.dumps(cl, canonical=True), key)),
                          "claims": {"exp": cl[4], "nbf": cl[5], "iat": cl[6]}})
    return cases


DAY_SHAPE = re.compile(r"([0-9]{4})-[0-9]{2}-[0-9]{2}")
RFC3339_SHAPE = re.compile(r"([0-9]{4})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def check_claim_times(cases, cli, web):
    """The rule both sides follow (CivilTime): a shown time is a date of the years 1–9999, or
    else the claim's own seconds as digits, exactly, never rounded. Checked on the CLI's lines and
    the page's results for the claim-time cases; that both agree is the corpus comparison."""
    shown = bad = 0
    for c, w in zip(cases, web):
        if c["kind"] != "claimTime":
            continue
        cl = c["claims"]
        own = {"from": cl["nbf"], "until": cl["exp"], "notBefore": cl["nbf"], "expiresAt": cl["exp"], "issuedAt": cl["iat"]}
        for side, r in (("cli", cli[c["id"]]), ("web", w)):
            for field, v in (r.get("validity") or {}).items():
                shape = DAY_SHAPE if field in ("from", "until") else RFC3339_SHAPE
                m = shape.fullmatch(v)
                if m:
                    ok = "0001" <= m.group(1) <= "9999"
                else:
                    ok = v.isdigit() and int(v) == own[field]
                    shown += side == "web" and ok
                if not check(f"case {c['id']} (claimTime) {side} validity.{field}", ok, f"{v!r}; claims {cl}"):
                    bad += 1
    check("claim times outside the years 1-9999 are shown as exact digits", shown >= 20, f"{shown} shown")
    print(f"web-verifier: claim times: {sum(c['kind'] == 'claimTime' for c in cases)} cases, {shown} times shown as exact seconds, {bad} bad")


# ---------- the CLI's verdicts ----------

def cli_verdicts(world, cases, workdir, permit):
    groups = {}
    for c in cases:
        groups.setdefault((c["at"], c["plate"]), []).append(c)
    results = {}
    revs = []
    for name, data in (("rev-a.cose", world.rev_a), ("rev-b.cose", world.rev_b)):
        path = os.path.join(workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        revs += ["--revocations", path]
    for (at, plate), group in groups.items():
        path = os.path.join(workdir, "cases.txt")
        texts = [c["text"] for c in group] + ["FP1:"]  # a last line that is never empty
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        args = [permit, "verify", "--file", path, "--json", "--at", at, "--trust", world.trust_path, "--root", world.root_pub_path, *revs]
        if plate is not None:
            args += ["--plate", plate]
        r = run(args)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        if len(lines) != len(texts):
            raise SystemExit(f"web-verifier: permit verify printed {len(lines)} lines for {len(texts)} payloads: {r.stderr[:500]}")
        for c, line in zip(group, lines):
            results[c["id"]] = line
    return results


def big_numbers(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v > 2 ** 53
    if isinstance(v, dict):
        return any(big_numbers(x) for x in v.values())
    if isinstance(v, list):
        return any(big_numbers(x) for x in v)
    return False


def summary(r):
    """What must agree: the verdict, and what the officer is shown (the permit, its validity and
    the signer). A permit with integers above 2^53 is compared without them: JSON numbers in the
    page are doubles, so the page writes those as decimal strings."""
    out = {
        "outcome": r.get("outcome"), "reason": r.get("reason"), "stage": r.get("stage"),
        "warnings": sorted(w["code"] for w in r.get("warnings", [])),
        "number": r.get("number"), "issuer": r.get("issuer"),
    }
    permit = r.get("permit")
    if permit is not None and not any(isinstance(x, str) and x.isdigit() and int(x) > 2 ** 53 for x in json.dumps(permit).split('"')) \
            and not big_numbers(permit):
        out["permit"] = permit
    # Every shown time is compared, the digits of a time outside the years 1–9999 too: the page
    # keeps claims as exact integers (claim_time_cases, check_claim_times).
    validity = r.get("validity")
    if validity is not None:
        out["validity"] = validity
    return out


# ---------- the HTTP server the page is served from ----------

class Site:
    """Serves Web/verify at /verify/ with the root filled in, the lists at the deployment's
    paths, and POST /v1/verify through the CLI. Loopback only; stops by itself."""

    def __init__(self, world, permit, workdir, lifetime=600, max_requests=20000):
        self.world = world
        self.permit = permit
        self.workdir = workdir
        self.trust = world.trust_bytes
        self.revocations = {"330114": world.rev_a, "330106": world.rev_b}
        self.requests = 0
        self.max_requests = max_requests
        self.verify_at = "2026-12-05T04:00:00Z"  # the clock of POST /v1/verify
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", ctype="application/octet-stream", extra=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                site.requests += 1
                if site.requests > site.max_requests:
                    return self.send(503, b"request limit")
                path = self.path.split("?")[0]
                if path == "/verify":
                    return self.send(301, b"", extra={"Location": "/verify/"})
                if path == "/v1/trust-list.cose":
                    return self.send(200, site.trust)
                m = re.fullmatch(r"/v1/authorities/([0-9]{6})/revocations\.cose", path)
                if m:
                    data = site.revocations.get(m.group(1))
                    return self.send(200, data) if data else self.send(404, b"no list", "text/plain")
                if path.startswith("/verify/"):
                    rel = path[len("/verify/"):] or "index.html"
                    full = os.path.realpath(os.path.join(WEB, rel))
                    if not full.startswith(os.path.realpath(WEB) + os.sep) or not os.path.isfile(full):
                        return self.send(404, b"not found", "text/plain")
                    with open(full, "rb") as f:
                        data = f.read()
                    if rel == "index.html":
                        data = data.replace(PLACEHOLDER.encode(), site.world.root_spki_b64.encode())
                    types = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript",
                             ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json", ".md": "text/plain"}
                    return self.send(200, data, types.get(os.path.splitext(full)[1], "application/octet-stream"))
                return self.send(404, b"not found", "text/plain")

            def do_POST(self):
                site.requests += 1
                if self.path != "/v1/verify":
                    return self.send(404, b"not found", "text/plain")
                length = int(self.headers.get("Content-Length") or 0)
                if length > 8 << 20:
                    return self.send(413, b"too large", "text/plain")
                body = self.rfile.read(length)
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if not body:
                    return self.send(400, b"empty body", "text/plain")
                tmp = os.path.join(site.workdir, "upload")
                with open(tmp, "wb") as f:
                    f.write(body)
                w = site.world
                args = [site.permit, "verify", "--json", "--trust", w.trust_path, "--root", w.root_pub_path, "--at", site.verify_at]
                if ctype in ("image/png", "image/jpeg"):
                    args += ["--image", tmp]
                elif ctype == "text/plain":
                    args += ["--file", tmp]
                else:
                    return self.send(415, b"unsupported media type", "text/plain")
                r = run(args)
                return self.send(200, r.stdout.encode(), "application/x-ndjson")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(lifetime, self.stop)
        self.timer.daemon = True
        self.timer.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.timer.cancel()


class PermitServe:
    """`permit serve --listen 127.0.0.1:0` on a data directory: the real server, its URL from the
    one line it prints. Loopback only; stop() sends SIGTERM and returns the exit status (SIGKILL
    after 15 s, and a watchdog kills it after `lifetime` seconds whatever happens)."""

    def __init__(self, permit, data_dir, now, lifetime=600):
        env = dict(os.environ, PERMIT_NOW=now)
        self.proc = subprocess.Popen([permit, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        self.watchdog = threading.Timer(lifetime, self.proc.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        line = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0].startswith("listening on http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"permit serve did not start: {line!r} {self.proc.stderr.read(2000)!r}")
        self.url = line[0].strip()[len("listening on "):]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.watchdog.cancel()
        return self.proc.returncode


# ---------- the browser ----------

def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        raise SystemExit("web-verifier: chromium and chromedriver are needed (scripts/setup installs them)")
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=390,844",
              f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", "--lang=zh-CN"):
        opts.add_argument(a)
    service = Service(chromedriver)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_script_timeout(300)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    return driver


# ---------- the camera, with stand-ins for the two parts that cannot run here ----------

# Injected before the page's scripts (Page.addScriptToEvaluateOnNewDocument). Stand-in: the
# BarcodeDetector, which Debian's Chromium lacks; it reads no QR code but answers the payload the
# harness set, and only once it has been handed a video element holding a real frame (drawn and
# seen to have pixels). Not a stand-in: getUserMedia, wrapped only to keep the real stream it
# returns (Chromium's fake camera) so that the harness can see its tracks stopped.
FAKE_BARCODE_DETECTOR_JS = r"""
(() => {
  const state = window.__cameraTest = { payload: null, calls: 0, frames: 0, answered: 0, formats: null,
    streams: [], lastFrame: null, callsWithoutLiveStream: 0 };
  class StandInBarcodeDetector {
    constructor(options = {}) { state.formats = options.formats || null; }
    static async getSupportedFormats() { return ["qr_code"]; }
    async detect(source) {
      state.calls++;
      if (!(source instanceof HTMLVideoElement)) return [];
      if (!(source.srcObject && source.srcObject.active)) state.callsWithoutLiveStream++;
      if (source.readyState < 2 || !source.videoWidth) return [];
      const canvas = document.createElement("canvas");
      canvas.width = 32;
      canvas.height = 32;
      const g = canvas.getContext("2d", { willReadFrequently: true });
      g.drawImage(source, 0, 0, 32, 32);
      const px = g.getImageData(0, 0, 32, 32).data;
      let lit = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] || px[i + 1] || px[i + 2]) lit++;
      if (!lit) return [];
      state.frames++;
      state.lastFrame = { width: source.videoWidth, height: source.videoHeight, time: source.currentTime, lit,
        fromCamera: state.streams.includes(source.srcObject) };
      if (state.payload === null) return [];
      const rawValue = state.payload;
      state.payload = null;
      state.answered++;
      return [{ rawValue, format: "qr_code", boundingBox: new DOMRectReadOnly(0, 0, source.videoWidth, source.videoHeight), cornerPoints: [] }];
    }
  }
  window.BarcodeDetector = StandInBarcodeDetector;
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      const stream = await real(constraints);
      state.streams.push(stream);
      return stream;
    };
  }
})();
"""


def camera_browser(profile):
    """Chromium as browser() starts it, plus a real getUserMedia stream from Chromium's fake camera
    (no permission prompt, no device), and the stand-in BarcodeDetector injected into every page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=390,844",
              f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", "--lang=zh-CN",
              "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_script_timeout(300)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_BARCODE_DETECTOR_JS})
    return driver


def camera_check(base_url, work, cases, cli):
    """The page's camera flow end to end, in its own Chromium: the camera button, getUserMedia,
    the video, detect() on its frames, the verdict, the stream stopped. Stand-ins for exactly the
    two parts that cannot run here: the camera (Chromium's fake device, a real MediaStream of
    generated frames) and BarcodeDetector (FAKE_BARCODE_DETECTOR_JS, answering a corpus payload).
    The verdicts must equal `permit verify --json`'s for the same payload, time and (no) plate."""
    from selenium.webdriver.common.by import By
    pick = lambda want: next(c for c in cases if c["kind"] == "sealed" and c["plate"] is None
                             and (cli[c["id"]].get("reason") or "valid") == want)
    driver = camera_browser(os.path.join(work, "profile-camera"))
    name = "camera (stand-ins: Chromium's fake camera, a fake BarcodeDetector)"
    try:
        driver.get(base_url + "/verify/")
        wait_ready(driver)
        js = driver.execute_script
        camera = driver.find_element(By.ID, "camera")
        check(f"{name}: the camera button is shown", camera.is_displayed() and camera.text == "摄像头扫码", camera.text)

        def wait(cond, seconds=10):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                v = js("return " + cond)
                if v:
                    return v
                time.sleep(0.05)
            return js("return " + cond)

        tracks = "window.__cameraTest.streams.map(s => s.getTracks().map(t => t.kind + ':' + t.readyState + ':' + t.label))"
        stopped = ("window.__cameraTest.streams.length > 0 && window.__cameraTest.streams.every(s => s.getTracks().every(t => t.readyState === 'ended'))"
                   " && document.getElementById('video').hidden && !document.getElementById('video').srcObject")

        def stays_stopped():
            calls = js("return window.__cameraTest.calls")
            time.sleep(0.6)
            return js("return window.__cameraTest.calls") == calls and js("return " + stopped)

        # Start, watch detect() get real frames, stop with the button: the stream ends, detect stops.
        js("arguments[0].click(); arguments[0].click()", camera)  # a double tap opens one stream
        frames = wait("window.__cameraTest.frames >= 3 && window.__cameraTest.lastFrame")
        st = js("return window.__cameraTest")
        check(f"{name}: a click starts the stream and the page calls detect on its frames",
              bool(frames) and frames.get("fromCamera") and frames["width"] > 0 and st["formats"] == ["qr_code"]
              and js("return !document.getElementById('video').hidden") and camera.text == "停止扫码",
              f"{json.dumps(st, default=str)[:400]} tracks {js('return ' + tracks)}")
        check(f"{name}: a double tap opens one stream", js("return window.__cameraTest.streams.length") == 1
              and js(f"return {tracks}.flat().filter(t => t.includes(':live:')).length") == 1, str(js("return " + tracks)))
        camera.click()
        check(f"{name}: the stop button stops the stream and the reading", wait(stopped, 5) and stays_stopped()
              and camera.text == "摄像头扫码", str(js("return " + tracks)))

        # Another tab in front (the officer switches apps): the page is hidden and stops the camera.
        camera.click()
        live = wait("window.__cameraTest.frames >= 4")
        page = driver.current_window_handle
        driver.switch_to.new_window("tab")
        time.sleep(0.5)
        driver.close()
        driver.switch_to.window(page)
        check(f"{name}: a hidden page stops the stream", bool(live) and wait(stopped, 5) and stays_stopped()
              and camera.text == "摄像头扫码", str(js("return " + tracks)))

        # Read a valid and a revoked permit of the corpus off the camera, as the CLI sees them.
        for want in ("valid", "revoked"):
            c = pick(want)
            page_call(driver, "window.permitVerifier.setNow(args[0])", c["at"])
            js("var v = document.getElementById('verdict'); v.removeAttribute('data-outcome'); v.className = 'verdict idle';"
               "window.__cameraTest.payload = arguments[0];", c["text"])
            before = js("return window.__cameraTest.frames")
            camera.click()
            outcome = wait("document.getElementById('verdict').className.indexOf('idle') < 0 && document.getElementById('verdict').getAttribute('data-outcome')")
            shown = page_call(driver, "window.permitVerifier.shown()") or [None]
            reason = js("return document.getElementById('verdict').getAttribute('data-reason')")
            a, b = summary(cli[c["id"]]), summary(shown[0] or {})
            check(f"{name}: a {want} permit read off a video frame gets permit verify's verdict",
                  js("return window.__cameraTest.answered") >= 1 and js("return window.__cameraTest.frames") > before
                  and a == b and outcome == a["outcome"] and reason == (a["reason"] or ""),
                  f"\n  cli {a}\n  web {b}\n  shown {outcome} {reason!r}")
            check(f"{name}: after a {want} read the stream is stopped and the scanner field is empty for the next scan",
                  wait(stopped, 5) and stays_stopped() and js("return document.getElementById('scan').value") == ""
                  and camera.text == "摄像头扫码", f"{js('return ' + tracks)} scan={js('return document.getElementById(`scan`).value')[:20]!r}")
        st = js("return window.__cameraTest")
        check(f"{name}: detect() only ever saw a live stream", st["callsWithoutLiveStream"] == 0 and len(st["streams"]) == 4,
              json.dumps(st, default=str)[:300])
        print(f"web-verifier: camera: {len(st['streams'])} streams from Chromium's fake camera "
              f"({st['lastFrame']['width']}x{st['lastFrame']['height']}), detect() called {st['calls']} times on {st['frames']} frames, {st['answered']} reads")
    finally:
        driver.quit()


def page_call(driver, expr, *args):
    """Awaits window.permitVerifier's `expr` (a JS expression using args[0..]) and returns its value."""
    script = ("const done = arguments[arguments.length - 1]; const args = Array.from(arguments).slice(0, -1);"
              f"Promise.resolve().then(() => {expr}).then(v => done({{ok: v}}), e => done({{err: String(e && e.stack || e)}}));")
    r = driver.execute_async_script(script, *args)
    if r is None or "err" in r:
        raise RuntimeError(f"page: {expr}: {r and r.get('err')}")
    return r.get("ok")


def wait_ready(driver):
    for _ in range(200):
        if driver.execute_script("return !!(window.permitVerifier)"):
            return page_call(driver, "window.permitVerifier.ready")
        time.sleep(0.05)
    raise RuntimeError("the page did not start")


def scan(driver, text):
    """Types a payload into the scanner field and presses Enter, as a handheld scanner does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    field = driver.find_element(By.ID, "scan")
    driver.execute_script("arguments[0].value = arguments[1];", field, text)
    field.send_keys(Keys.ENTER)
    for _ in range(200):
        outcome = driver.execute_script("return document.getElementById('verdict').getAttribute('data-outcome')")
        if outcome and driver.execute_script("return document.getElementById('verdict').className.indexOf('idle') < 0"):
            return outcome
        time.sleep(0.05)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("permit")
    ap.add_argument("--screenshots")
    ap.add_argument("--cases", type=int, default=1200, help="at least this many cases (random texts fill up)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--bench", type=int, default=200)
    ap.add_argument("--verbose", action="store_true", help="print the reasons per kind of case")
    opts = ap.parse_args()
    permit = os.path.abspath(opts.permit)
    started = time.monotonic()
    seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="web-verifier-")
    driver = None
    site = None
    served, served_driver = None, None
    try:
        world = World(permit, work)
        cases, sealed = build_corpus(world, rng, opts.cases)
        cases += claim_time_cases(world, sealed, len(cases))
        t0 = time.monotonic()
        cli = cli_verdicts(world, cases, work, permit)
        cli_seconds = time.monotonic() - t0

        site = Site(world, permit, work)
        base_url = f"http://127.0.0.1:{site.port}"
        driver = browser(os.path.join(work, "profile"))
        driver.get(base_url + "/verify/")
        status = wait_ready(driver)
        check("page loads the trust list", status.get("trust") and status["trust"]["sequence"] == 7, json.dumps(status)[:500])
        check("page loads both revocation lists", len(status.get("revocations", [])) == 2, json.dumps(status)[:500])
        check("service worker caches the page", page_call(driver, "window.permitVerifier.swReady") is True)

        # The corpus through the page.
        t0 = time.monotonic()
        web = []
        batch = [{"text": c["text"], "at": c["at"], "plate": c["plate"]} for c in cases]
        for i in range(0, len(batch), 300):
            web += page_call(driver, "window.permitVerifier.verifyBatch(args[0])", batch[i:i + 300])
        web_seconds = time.monotonic() - t0
        differences = 0
        reasons = {}
        for c, w in zip(cases, web):
            a, b = summary(cli[c["id"]]), summary(w)
            reasons[a["reason"] or "valid"] = reasons.get(a["reason"] or "valid", 0) + 1
            if not check(f"case {c['id']} ({c['kind']})", a == b, f"\n  cli {a}\n  web {b}\n  text {c['text'][:120]!r} at {c['at']} plate {c['plate']}\n  cli detail {cli[c['id']].get('detail')}\n  web detail {w.get('detail')}"):
                differences += 1
        print(f"web-verifier: {len(cases)} cases, {differences} differences (seed {seed}; CLI {cli_seconds:.1f} s, page {web_seconds:.1f} s)")
        print("web-verifier: reasons " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
        check_claim_times(cases, cli, web)
        before_signature = {"unknownPrefix", "base45Invalid", "decompressionFailed", "coseMalformed", "unsupportedAlgorithm", "unknownKey", "signatureInvalid"}
        leaked = [c["id"] for c, w in zip(cases, web) if w.get("reason") in before_signature and ("permit" in w or "number" in w or "issuer" in w)]
        check("no claim or signer in a result refused before the signature verified", not leaked, str(leaked[:10]))
        if opts.verbose:
            kinds = {}
            for c, w in zip(cases, web):
                kinds.setdefault(c["kind"], {}).setdefault(w.get("reason") or "valid", 0)
                kinds[c["kind"]][w.get("reason") or "valid"] += 1
            for k, v in sorted(kinds.items()):
                print(f"  {k}: " + ", ".join(f"{r} {n}" for r, n in sorted(v.items())))
        for needed in ["valid", "unknownPrefix", "base45Invalid", "decompressionFailed", "coseMalformed", "unsupportedAlgorithm",
                       "unknownKey", "signatureInvalid", "claimsMalformed", "issuerMismatch", "keyNotValidAtIssuance",
                       "notYetValid", "expired", "revoked", "plateMismatch"]:
            check(f"the corpus has {needed}", reasons.get(needed, 0) > 0)

        # The scanner field, as an officer uses it.
        valid_text = sealed[1][0]
        page_call(driver, "window.permitVerifier.setNow(args[0])", "2026-12-05T04:00:00Z")
        check("scanner input: a valid permit passes", scan(driver, valid_text) == "valid")
        shown = driver.execute_script("return document.getElementById('details').innerText")
        check("the verdict shows number, plate, crew and issuer", sealed[1][1]["number"] in shown and "杭州市钱塘区交通运输局" in shown
              and "0571-86000000" in shown and sealed[1][1]["vehicle"]["plate"] in shown, shown[:300])
        if opts.screenshots:
            os.makedirs(opts.screenshots, exist_ok=True)
            driver.save_screenshot(os.path.join(opts.screenshots, "web-verifier-pass.png"))
        forged = next(c["text"] for c in cases if c["kind"] == "foreignKey")
        check("scanner input: a forged permit is refused", scan(driver, forged) == "invalid")
        shown = driver.execute_script("return document.getElementById('details').innerText + document.getElementById('verdict').innerText")
        check("a refused signature shows no claim", "330114" not in shown and "不予通行" in shown, shown[:300])
        revoked_text = sealed[0][0]
        check("scanner input: a revoked permit is refused", scan(driver, revoked_text) == "invalid"
              and driver.execute_script("return document.getElementById('verdict').getAttribute('data-reason')") == "revoked")
        if opts.screenshots:
            driver.save_screenshot(os.path.join(opts.screenshots, "web-verifier-refused.png"))
        page_call(driver, "window.permitVerifier.lang('en')")
        english = driver.execute_script("return document.getElementById('verdict').innerText + ' ' + document.getElementById('details').innerText")
        check("the English toggle shows the verdict and fields in English", "DO NOT PASS" in english and "revoked" in english and "Issued by" in english, english[:200])
        page_call(driver, "window.permitVerifier.lang('zh')")

        # A photo, while online: POST /v1/verify with the phone card of a permit issued through the
        # workflow; the server answers as `permit verify --json` (its clock fixed for the test).
        card, card_number = world.issue_permit_card()
        from selenium.webdriver.common.by import By
        driver.execute_script("document.getElementById('verdict').removeAttribute('data-outcome'); document.getElementById('verdict').className='verdict idle'")
        driver.find_element(By.ID, "photo").send_keys(card)
        outcome = None
        for _ in range(200):
            outcome = driver.execute_script("var v=document.getElementById('verdict'); return v.className.indexOf('idle')<0 ? v.getAttribute('data-outcome') : null")
            if outcome:
                break
            time.sleep(0.05)
        reason = driver.execute_script("return document.getElementById('verdict').getAttribute('data-reason')")
        shown = driver.execute_script("return document.getElementById('details').innerText")
        check("photo upload: an issued permit's card passes", outcome == "valid" and card_number in shown, f"{outcome} {reason} {shown[:100]!r}")

        # Lists: an older sequence, an altered list and another root's list never replace the accepted one.
        site.trust = world.old_trust
        st = page_call(driver, "window.permitVerifier.reload()")
        check("an older trust list (lower sequence) is refused", st["trust"]["sequence"] == 7 and any(n["code"] == "trustListOlder" for n in st["notes"]), json.dumps(st["notes"]))
        status_text = driver.execute_script("return document.getElementById('status').innerText")
        check("the status panel says an older list was refused", "序号较旧" in status_text, status_text[:300])
        altered = bytearray(world.newer_trust)
        altered[-70] ^= 1
        site.trust = bytes(altered)
        st = page_call(driver, "window.permitVerifier.reload()")
        check("an altered trust list is refused", st["trust"]["sequence"] == 7 and any(n["code"] == "trustListRefused" for n in st["notes"]), json.dumps(st["notes"]))
        site.trust = world.foreign_trust
        st = page_call(driver, "window.permitVerifier.reload()")
        check("a list signed by another root is refused", st["trust"]["sequence"] == 7 and any(n["code"] == "trustListRefused" for n in st["notes"]), json.dumps(st["notes"]))
        site.revocations["330114"] = world.rev_a_old
        site.trust = world.newer_trust
        st = page_call(driver, "window.permitVerifier.reload()")
        check("a newer trust list replaces the stored one", st["trust"]["sequence"] == 8, json.dumps(st)[:300])
        rev_a = [r for r in st["revocations"] if r["authority"] == "330114"]
        check("an older revocation list is refused", rev_a and rev_a[0]["sequence"] == 3 and any(n["code"] == "revocationListOlder" for n in st["notes"]), json.dumps(st)[:500])

        # Another root pinned in the settings: the national list is refused, the other root's accepted.
        st = page_call(driver, "window.permitVerifier.pinRoot(args[0])", world.other_root_spki_b64)
        check("a pinned root refuses lists it did not sign", st["root"]["source"] == "pinned" and st["trust"] is None
              and any(n["code"] == "trustListRefused" for n in st["notes"]), json.dumps(st)[:400])
        site.trust = world.foreign_trust
        st = page_call(driver, "window.permitVerifier.reload()")
        check("a pinned root accepts the list it signed", st["trust"] and st["trust"]["sequence"] == 9, json.dumps(st)[:300])
        site.trust = world.newer_trust
        site.revocations["330114"] = world.rev_a
        st = page_call(driver, "window.permitVerifier.pinRoot(null)")
        check("back to the page's root: its lists again", st["root"]["source"] == "page" and st["trust"]["sequence"] == 8
              and sorted(r["sequence"] for r in st["revocations"]) == [2, 3], json.dumps(st)[:400])
        check("no camera button without BarcodeDetector", driver.execute_script(
            "return ('BarcodeDetector' in window) || document.getElementById('camera').hidden"))
        camera_check(base_url, work, cases, cli)

        # Speed: one payload at a time in the page, beside the CLI's per-payload time.
        bench_texts = []
        a_path = os.path.join(world.a, "issuer-key.pem")
        key_a = world.key_a
        base_claims = cbor2.loads(decode_text(sealed[1][0])[1][2])
        for i in range(opts.bench):
            base_claims[-70001][1] = f"330114{500000 + i:06d}"
            bench_texts.append(fp1(cose_sign1(cbor2.dumps(base_claims, canonical=True), key_a)))
        page_bench = page_call(driver, "window.permitVerifier.bench(args[0], args[1])", bench_texts, "2026-12-05T04:00:00Z")
        # The CLI: a batch of the same payloads ten times over, less one payload's run (process start).
        path = os.path.join(work, "bench.txt")
        batch_texts = bench_texts * 10
        with open(path, "w") as f:
            f.write("\n".join(batch_texts) + "\n")
        base_args = [permit, "verify", "--json", "--at", "2026-12-05T04:00:00Z", "--trust", world.trust_path, "--root", world.root_pub_path]
        one, many = [], []
        for _ in range(3):
            t0 = time.monotonic(); run(base_args + [bench_texts[0]]); one.append(time.monotonic() - t0)
            t0 = time.monotonic(); run(base_args + ["--file", path]); many.append(time.monotonic() - t0)
        cli_per = (statistics.median(many) - statistics.median(one)) / (len(batch_texts) - 1) * 1000
        print(f"web-verifier: page {page_bench['median']:.2f} ms per payload (median of {page_bench['count']}, p90 {page_bench['p90']:.2f} ms, mean {page_bench['mean']:.3f} ms); "
              f"permit verify {cli_per:.3f} ms per payload in a batch of {len(batch_texts)}, {statistics.median(one) * 1000:.0f} ms for one payload with process start")
        check("the page verifies a payload in under 20 ms (median)", page_bench["median"] < 20, f"{page_bench['median']:.2f} ms")

        # Offline: the page comes from the service worker, the lists from IndexedDB.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        site.stop()
        site = None
        driver.get(base_url + "/verify/")
        st = wait_ready(driver)
        check("offline: the page loads from the service worker", st is not None and st.get("root") is not None)
        check("offline: the stored trust list is used", st.get("trust") and st["trust"]["sequence"] == 8 and st["trust"].get("source") == "stored", json.dumps(st)[:400])
        check("offline: the stored revocation lists are used", len(st.get("revocations", [])) == 2, json.dumps(st)[:400])
        page_call(driver, "window.permitVerifier.setNow(args[0])", "2026-12-21T02:00:00Z")
        stale_text, stale_doc, _ = sealed[26]  # authority B's ES256 key, valid to 2026-12-31, not revoked
        outcome = scan(driver, stale_text)
        warnings = driver.execute_script("return Array.from(document.querySelectorAll('#warnings .warning')).map(e => e.dataset.code)")
        banner = driver.execute_script("return !document.getElementById('stale').hidden")
        check("offline: a payload verifies from the stored lists", outcome == "valid", str(outcome))
        check("offline: the trust list is stale past nextUpdate", "trustListStale" in warnings and banner, f"{warnings} banner={banner}")
        status_text = driver.execute_script("return document.getElementById('status').innerText")
        check("offline: the page says how old the lists are", "更新于" in status_text and "离线" in status_text, status_text[:300])
        if opts.screenshots:
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(os.path.join(opts.screenshots, "web-verifier-offline-stale.png"))

        # The page and a photo through the real server: `permit serve` on authority A's data
        # directory (its own trust list, signed by its own root, which the page gets filled in).
        served = PermitServe(permit, world.a, now="2026-12-05T04:00:00Z")
        served_driver = browser(os.path.join(work, "profile-served"))
        served_driver.get(served.url + "/verify")
        check("permit serve: /verify redirects to the page", served_driver.current_url == served.url + "/verify/", served_driver.current_url)
        st = wait_ready(served_driver)
        check("permit serve: the page has the data directory's root", st.get("root") and st["root"].get("source") == "page", json.dumps(st)[:400])
        check("permit serve: the page loads the trust list it serves", st.get("trust") is not None and not any(n["code"] == "trustListRefused" for n in st.get("notes", [])), json.dumps(st)[:400])
        check("permit serve: the service worker keeps the page", page_call(served_driver, "window.permitVerifier.swReady") is True)
        from selenium.webdriver.common.by import By
        served_driver.find_element(By.ID, "photo").send_keys(card)
        outcome = None
        for _ in range(200):
            outcome = served_driver.execute_script("var v=document.getElementById('verdict'); return v.className.indexOf('idle')<0 ? v.getAttribute('data-outcome') : null")
            if outcome:
                break
            time.sleep(0.05)
        shown = served_driver.execute_script("return document.getElementById('details').innerText")
        check("permit serve: a photo of the card through POST /v1/verify passes", outcome == "valid" and card_number in shown, f"{outcome} {shown[:100]!r}")
        served_driver.quit()
        served_driver = None
        code = served.stop()
        served = None
        check("permit serve: exits 0 on SIGTERM", code == 0, f"exit {code}")
    finally:
        if served_driver is not None:
            served_driver.quit()
        if served is not None:
            served.stop()
        if driver is not None:
            driver.quit()
        if site is not None:
            site.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"web-verifier: harness {time.monotonic() - started:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
