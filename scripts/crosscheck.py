#!/usr/bin/env python3
"""Cross-implementation checks of the FP1 payload against libraries we did not write.

1. Python (base45, zlib, cbor2, pycose) decodes and verifies FP1 texts that our CLI sealed,
   with EdDSA and ES256, and rebuilds the expected claims from the permit document itself
   (its own masking, codes and validity times), so both sides must agree on every value.
2. Python seals the same claims with its own keys; our `permit inspect --key` must verify
   them and report the same claims.

Usage: crosscheck.py PERMIT_BINARY FIXTURE.json...
Prints one line per check and ends with "crosscheck: N passed, N failed".
"""
import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zlib

import base45
import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pycose.algorithms import EdDSA, Es256
from pycose.headers import KID, Algorithm
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P256, Ed25519
from pycose.messages import Sign1Message

PLATE_COLORS = {"blue": 1, "yellow": 2, "black": 3, "white": 4, "green": 5, "yellow-green": 6}
DEPARTMENTS = ["TRANSPORT", "DEVREFORM", "INDUSTRY", "PUBLIC_SECURITY", "AGRICULTURE", "COMMERCE",
               "HEALTH", "MARKET_REGULATION", "ENERGY", "POSTAL"]
ROLES = {"driver": 1, "escort": 2}
TRIPS = {"single": 1, "multiple": 2}
CST = datetime.timezone(datetime.timedelta(hours=8))

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def categories_by_slug():
    here = os.path.dirname(os.path.abspath(__file__))
    table = json.load(open(os.path.join(here, "..", "Schemas", "cargo-categories.json"), encoding="utf-8"))
    rows = table["categories"] if isinstance(table, dict) else table
    return {row["slug"]: row["code"] for row in rows}


def mask_document(number, doc_type):
    if doc_type in (None, "resident-id") and len(number) == 18:
        return number[:6] + "*" * 8 + number[14:]
    return "*" * (len(number) - 4) + number[-4:] if len(number) > 4 else "*" * len(number)


def mask_phone(number):
    if len(number) == 11 and number.isdigit() and number.startswith("1"):
        return number[:3] + "****" + number[7:]
    return "*" * (len(number) - 4) + number[-4:]


def day_start(text):
    y, m, d = map(int, text.split("-"))
    return int(datetime.datetime(y, m, d, tzinfo=CST).timestamp())


def expected_claims(doc, slugs):
    """The claims a permit document must produce, built here independently of the Swift code."""
    def place(p):
        out = {1: int(p["county"])}
        if p.get("address") and len(p["address"]) <= 16:
            out[2] = p["address"]
        return out

    permit = {
        1: doc["number"],
        2: {1: doc["vehicle"]["plate"], 2: PLATE_COLORS[doc["vehicle"]["plateColor"]]},
        3: [{1: c["name"], 2: mask_document(c["idNumber"], c.get("documentType")), 3: mask_phone(c["phone"]),
             4: ROLES[c["role"]]} for c in doc["crew"]],
        4: {1: [slugs[s] for s in doc["cargo"]["categories"]], 2: doc["cargo"]["description"]},
        5: place(doc["route"]["origin"]),
        6: place(doc["route"]["destination"]),
        8: sorted(DEPARTMENTS.index(d) + 1 for d in doc["approvedBy"]),
        9: {1: doc["applicant"]["name"], 2: doc["applicant"]["creditCode"]},
        10: TRIPS[doc["trips"]],
    }
    if doc["cargo"].get("weightKg") is not None:
        permit[4][3] = doc["cargo"]["weightKg"]
    if doc["route"].get("via"):
        permit[7] = [int(v) for v in doc["route"]["via"]]
    if doc.get("conditions"):
        permit[11] = doc["conditions"]
    to_y, to_m, to_d = map(int, doc["validity"]["to"].split("-"))
    exp = int((datetime.datetime(to_y, to_m, to_d, tzinfo=CST) + datetime.timedelta(days=1)).timestamp())
    iat = int(datetime.datetime.fromisoformat(doc["issuedAt"].replace("Z", "+00:00")).timestamp())
    return {1: doc["number"][:6], 4: exp, 5: day_start(doc["validity"]["from"]), 6: iat, -70001: permit}


def run(binary, *args, stdin=None):
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True)


def cose_key_from_spki(spki, alg):
    key = serialization.load_der_public_key(spki)
    if alg == "EdDSA":
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return OKPKey(crv=Ed25519, x=raw)
    numbers = key.public_numbers()
    return EC2Key(crv=P256, x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))


def decode_fp1(text):
    assert text.startswith("FP1:"), "prefix"
    return zlib.decompress(base45.b45decode(text[4:]))


def ours_sealed_python_verifies(binary, fixture, doc, slugs, alg, workdir):
    name = f"{os.path.basename(fixture)} {alg}"
    key_path = os.path.join(workdir, f"ours-{alg}-{os.path.basename(fixture)}.pem")
    r = run(binary, "keys", "generate", "--alg", alg, "--out", key_path, "--json")
    check(f"{name}: permit keys generate", r.returncode == 0, r.stderr)
    info = json.loads(r.stdout)
    spki = base64.b64decode(info["publicKey"])
    check(f"{name}: kid is SHA-256(SPKI)[:8]", info["kid"] == hashlib.sha256(spki).hexdigest()[:16])
    r = run(binary, "seal", "--key", key_path, "--claims", fixture)
    check(f"{name}: permit seal", r.returncode == 0, r.stderr)
    text = r.stdout.rstrip("\n")
    cose_bytes = decode_fp1(text)
    outer = cbor2.loads(cose_bytes)
    check(f"{name}: COSE_Sign1 tagged 18", isinstance(outer, cbor2.CBORTag) and outer.tag == 18)
    protected = cbor2.loads(outer.value[0])
    check(f"{name}: protected header {{1: alg, 4: kid}}",
          protected == {1: -8 if alg == "EdDSA" else -7, 4: bytes.fromhex(info["kid"])}, repr(protected))
    check(f"{name}: unprotected header empty", outer.value[1] == {})
    message = Sign1Message.decode(cose_bytes)
    message.key = cose_key_from_spki(spki, alg)
    check(f"{name}: pycose verifies the signature", message.verify_signature())
    claims = cbor2.loads(message.payload)
    expected = expected_claims(doc, slugs)
    check(f"{name}: every claim value agrees", claims == expected, f"\n  ours:     {claims}\n  expected: {expected}")
    check(f"{name}: claims are core deterministic CBOR", cbor2.dumps(claims, canonical=True) == message.payload)
    # A changed payload must fail pycose too (the check can fail).
    tampered = Sign1Message(phdr=message.phdr, uhdr=message.uhdr, payload=message.payload[:-1] + bytes([message.payload[-1] ^ 1]))
    tampered._signature = message.signature
    tampered.key = message.key
    try:
        bad = tampered.verify_signature()
    except Exception:
        bad = False
    check(f"{name}: pycose refuses a flipped payload bit", not bad)


def python_sealed_ours_verifies(binary, fixture, doc, slugs, alg, workdir):
    name = f"{os.path.basename(fixture)} {alg} (sealed by Python)"
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        cose_key = OKPKey(crv=Ed25519, d=raw)
        cose_alg = EdDSA
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        numbers = private.private_numbers()
        cose_key = EC2Key(crv=P256, d=numbers.private_value.to_bytes(32, "big"),
                          x=numbers.public_numbers.x.to_bytes(32, "big"), y=numbers.public_numbers.y.to_bytes(32, "big"))
        cose_alg = Es256
    spki = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pub_path = os.path.join(workdir, f"python-{alg}-{os.path.basename(fixture)}.pub.pem")
    with open(pub_path, "wb") as f:
        f.write(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    claims = expected_claims(doc, slugs)
    message = Sign1Message(phdr={Algorithm: cose_alg, KID: hashlib.sha256(spki).digest()[:8]}, uhdr={},
                           payload=cbor2.dumps(claims, canonical=True))
    message.key = cose_key
    text = "FP1:" + base45.b45encode(zlib.compress(message.encode(tag=True), 9)).decode()
    r = run(binary, "inspect", text, "--key", pub_path, "--json")
    check(f"{name}: permit inspect accepts it", r.returncode == 0, r.stdout + r.stderr)
    report = json.loads(r.stdout)
    check(f"{name}: our signature check says valid", report.get("signature") == "valid", r.stdout)
    ours = report.get("claims") or {}
    p = ours.get("permit", {})
    same = (ours.get("issuer") == claims[1] and ours.get("expiresAt") == claims[4] and ours.get("notBefore") == claims[5]
            and ours.get("issuedAt") == claims[6] and p.get("number") == claims[-70001][1]
            and p.get("vehicle") == {"plate": claims[-70001][2][1], "plateColor": claims[-70001][2][2]}
            and [(c["name"], c["maskedDocument"], c["maskedPhone"], c["role"]) for c in p.get("crew", [])]
            == [(c[1], c[2], c[3], c[4]) for c in claims[-70001][3]]
            and p.get("cargo", {}).get("categories") == claims[-70001][4][1]
            and p.get("approvedBy") == claims[-70001][8] and p.get("trips") == claims[-70001][10]
            and p.get("conditions") == claims[-70001].get(11))
    check(f"{name}: both sides agree on the claims", same, r.stdout)
    # The same text with a foreign key must be refused.
    other = os.path.join(workdir, f"other-{alg}.pem")
    if not os.path.exists(other):
        run(binary, "keys", "generate", "--alg", alg, "--out", other)
    r = run(binary, "inspect", text, "--key", other, "--json")
    check(f"{name}: refused with another key", r.returncode == 1 and json.loads(r.stdout).get("signature") == "invalid")


def main():
    binary, fixtures = sys.argv[1], sys.argv[2:]
    slugs = categories_by_slug()
    with tempfile.TemporaryDirectory() as workdir:
        for fixture in fixtures:
            doc = json.load(open(fixture, encoding="utf-8"))
            for alg in ("EdDSA", "ES256"):
                ours_sealed_python_verifies(binary, fixture, doc, slugs, alg, workdir)
                python_sealed_ours_verifies(binary, fixture, doc, slugs, alg, workdir)
    print(f"crosscheck: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
