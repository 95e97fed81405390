#!/usr/bin/env python3
"""An independent FP1 verifier in Python, written from docs/permit-payload.md only (cbor2, pycose,
base45, zlib), used as a peer by `permit-bench verify` and as a cross-check that the format can be
verified with standard libraries.

    scripts/bench-verify-peer.py --trust trust-list.cose --root root.pub.pem [--at UNIX] [--json] PAYLOADS.txt

Reads FP1 lines (only CR/LF stripped), verifies the trust list against the pinned root, verifies every
payload through stages 1-9 and the validity window, and reports verifications per second
(the trust list is loaded before the clock starts). Exit 0 if every payload was valid, 1 otherwise.
Set up with:  python3 -m venv .venv && .venv/bin/pip install cbor2 pycose base45
"""
import argparse
import base64
import hashlib
import json
import sys
import time
import zlib
from collections import Counter
from collections.abc import Mapping

import base45
import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pycose.keys import EC2Key, OKPKey
from pycose.messages import Sign1Message

ALGS = {-8: "EdDSA", -19: "EdDSA", -7: "ES256", -9: "ES256"}
MAX_INFLATE = 64 * 1024


class Refused(Exception):
    def __init__(self, reason, detail=""):
        super().__init__(detail)
        self.reason = reason


def cose_key(spki_der):
    """A pycose key and its algorithm name from a DER SubjectPublicKeyInfo."""
    key = serialization.load_der_public_key(spki_der)
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return OKPKey(crv="Ed25519", x=raw), "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        numbers = key.public_numbers()
        return EC2Key(crv="P_256", x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big")), "ES256"
    raise ValueError("not an Ed25519 or P-256 key")


def kid_of(spki_der):
    return hashlib.sha256(spki_der).digest()[:8]


def decode_sign1(cose_bytes):
    """COSE_Sign1, tagged 18 or untagged; any other tag refused (spec §2)."""
    item = cbor2.loads(cose_bytes)
    if isinstance(item, cbor2.CBORTag):
        if item.tag != 18:
            raise Refused("coseMalformed", f"tag {item.tag}")
        item = item.value
    if not (isinstance(item, (list, tuple)) and len(item) == 4 and isinstance(item[0], bytes) and isinstance(item[1], Mapping)
            and isinstance(item[2], bytes) and isinstance(item[3], bytes)):
        raise Refused("coseMalformed", "not a COSE_Sign1 array")
    protected = cbor2.loads(item[0]) if item[0] else {}
    if not isinstance(protected, Mapping):
        raise Refused("coseMalformed", "protected header is not a map")
    # pycose 1.1's decode() expects cbor2 < 6 (lists, not tuples), so hand it the parsed parts.
    message = Sign1Message.from_cose_obj([item[0], dict(item[1]), item[2], item[3]], True)
    return protected, item[1], item[2], message


def load_trust(path, root_path):
    with open(root_path, "rb") as f:
        data = f.read()
    if b"PRIVATE KEY" in data:
        root_der = serialization.load_pem_private_key(data, None).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    elif data.startswith(b"-----"):
        root_der = serialization.load_pem_public_key(data).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        root_der = data
    root_key, _ = cose_key(root_der)
    with open(path, "rb") as f:
        _, _, payload, message = decode_sign1(f.read())
    message.key = root_key
    if not message.verify_signature():
        sys.exit("trust list signature does not verify with the root")
    doc = json.loads(payload)
    assert doc["format"] == "freight-permit-trust-list" and doc["version"] == 1
    keys = {}
    for entry in doc["keys"]:
        der = base64.b64decode(entry["publicKey"])
        if kid_of(der).hex() != entry["kid"]:
            sys.exit(f"kid mismatch for {entry['kid']}")
        key, alg = cose_key(der)
        keys.setdefault(kid_of(der), []).append((key, alg, entry, rfc3339(entry["notBefore"]), rfc3339(entry["notAfter"])))
    return keys


def rfc3339(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def verify(line, keys, now, skew=300):
    if not line.startswith("FP1:"):
        raise Refused("unknownPrefix")
    try:
        data = base45.b45decode(line[4:])
    except Exception as e:
        raise Refused("base45Invalid", str(e))
    if data[:1] in (b"\xd2", b"\x84"):
        cose_bytes = data
    else:
        try:
            d = zlib.decompressobj()
            cose_bytes = d.decompress(data, MAX_INFLATE)
            if d.unconsumed_tail or not d.eof or d.unused_data:
                raise Refused("decompressionFailed", "too large, truncated or trailing bytes")
        except zlib.error as e:
            raise Refused("decompressionFailed", str(e))
    try:
        protected, unprotected, payload, message = decode_sign1(cose_bytes)
    except Refused:
        raise
    except Exception as e:
        raise Refused("coseMalformed", str(e))
    alg = ALGS.get(protected.get(1))
    if alg is None:
        raise Refused("unsupportedAlgorithm")
    kid = protected.get(4, unprotected.get(4))
    candidates = keys.get(kid) if isinstance(kid, bytes) else None
    if not candidates:
        raise Refused("unknownKey")
    signer = None
    for key, key_alg, entry, not_before, not_after in candidates:
        if key_alg != alg:
            continue
        message.key = key
        try:
            if message.verify_signature():
                signer = (entry, not_before, not_after)
                break
        except Exception:
            pass
    if signer is None:
        raise Refused("signatureInvalid")
    try:
        claims = cbor2.loads(payload)
        iss, exp, nbf, iat, permit = claims[1], claims[4], claims[5], claims[6], claims[-70001]
        number = permit[1]
        assert isinstance(iss, str) and isinstance(number, str) and all(isinstance(t, int) for t in (exp, nbf, iat))
    except Exception as e:
        raise Refused("claimsMalformed", str(e))
    entry, not_before, not_after = signer
    if iss != entry["authority"] or not number.startswith(iss):
        raise Refused("issuerMismatch")
    if not (not_before <= iat <= not_after):
        raise Refused("keyNotValidAtIssuance")
    if now < nbf - skew:
        raise Refused("notYetValid")
    if now >= exp + skew:
        raise Refused("expired")
    return number


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("payloads")
    parser.add_argument("--trust", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--at", type=float, default=None, help="now, as Unix seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    keys = load_trust(args.trust, args.root)
    with open(args.payloads, "rb") as f:
        lines = [l.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace") for l in f.read().split(b"\n")]
    if lines and lines[-1] == "":
        lines.pop()
    now = args.at if args.at is not None else time.time()
    reasons = Counter()
    started = time.perf_counter()
    for line in lines:
        try:
            verify(line, keys, now)
            reasons["valid"] += 1
        except Refused as r:
            reasons[r.reason] += 1
    seconds = time.perf_counter() - started
    rate = len(lines) / seconds if seconds > 0 else 0.0
    if args.json:
        print(json.dumps({"count": len(lines), "valid": reasons["valid"], "seconds": seconds, "rate": rate, "reasons": dict(reasons)}))
    else:
        print(f"{len(lines)} payloads in {seconds:.2f} s: {rate:.0f} verifications/s; {dict(reasons)}")
    sys.exit(0 if reasons["valid"] == len(lines) else 1)


if __name__ == "__main__":
    main()
