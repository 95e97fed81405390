#!/usr/bin/env python3
"""Cross-checks of our RFC 9421 request signatures against Python's http-message-signatures 3.0.0.

    httpsig-check.py verify DIR   reads DIR/swift-requests.json (requests our Swift code signed,
                                  some tampered with afterwards) and verifies each one with the
                                  package's HTTPMessageVerifier under the contract's profile; prints
                                  one JSON line per request: {"name", "ok", "error"}.
    httpsig-check.py sign DIR NOW writes DIR/python-requests.json: requests the package signed at
                                  Unix time NOW with fresh Ed25519 and P-256 keys, each with its
                                  public key PEM, for the Swift verifier to check.
    httpsig-check.py send METHOD URL KEY NOW [BODY-FILE CONTENT-TYPE]
                                  signs one request with the package and the registered private
                                  key KEY (PKCS#8 PEM) at Unix time NOW, sends it to a live
                                  permit server, and prints {"status", "body"}: our server must
                                  accept what the package signs.

Request files hold a list of {"name", "publicKeyPEM", "request": {"method", "targetURI",
"headers": [[name, value]...], "body": base64}}. The contract's own rules (kid, tag, alg,
components, lifetime, nonce, digest) are checked here too, with hashlib and cryptography, so that
the two sides agree on them and not only on the signature. Exits 2 when the package is missing.
"""
import base64
import datetime
import hashlib
import json
import os
import sys

try:
    import importlib.metadata

    import http_message_signatures as hms
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
except ImportError as error:
    print(f"httpsig-check: {error}; run scripts/setup", file=sys.stderr)
    sys.exit(2)

PINNED = "3.0.0"
if importlib.metadata.version("http-message-signatures") != PINNED:
    print(f"httpsig-check: http-message-signatures {importlib.metadata.version('http-message-signatures')} "
          f"is installed, the checks are pinned to {PINNED}; run scripts/setup", file=sys.stderr)
    sys.exit(2)

LABEL = "permit"
TAG = "freight-permit"
ALGORITHMS = {"ed25519": hms.algorithms.ED25519, "ecdsa-p256-sha256": hms.algorithms.ECDSA_P256_SHA256}


class Fields:
    """Header field lines in order, with the mapping operations the package uses."""

    def __init__(self, lines):
        self.lines = [(str(n), str(v)) for n, v in lines]

    def items(self):
        return list(self.lines)

    def __iter__(self):
        return iter(dict.fromkeys(n for n, _ in self.lines))

    def __contains__(self, name):
        return any(n.lower() == name.lower() for n, _ in self.lines)

    def __setitem__(self, name, value):
        del self[name]
        self.lines.append((name, value))

    def __delitem__(self, name):
        self.lines = [(n, v) for n, v in self.lines if n.lower() != name.lower()]


class Request:
    def __init__(self, method, url, lines):
        self.method = method
        self.url = url
        self.headers = Fields(lines)


class Keys(hms.HTTPSignatureKeyResolver):
    def __init__(self, public=None, private=None):
        self.public, self.private = public or {}, private or {}

    def resolve_public_key(self, key_id):
        return self.public.get(key_id)

    def resolve_private_key(self, key_id):
        return self.private[key_id]


def kid(public_key):
    """The contract's kid: first 8 bytes of SHA-256 over the DER SPKI, lowercase hex."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()[:8].hex()


def field(lines, name):
    values = [v.strip(" \t") for n, v in lines if n.lower() == name]
    return ", ".join(values) if values else None


def b64url_decode(text):
    if any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_one(entry):
    request = entry["request"]
    body = base64.b64decode(request["body"])
    lines = request["headers"]
    public_key = serialization.load_pem_public_key(entry["publicKeyPEM"].encode())
    keyid = kid(public_key)
    alg = "ed25519" if isinstance(public_key, ed25519.Ed25519PublicKey) else "ecdsa-p256-sha256"
    components = ["@method", "@target-uri", "content-type", "content-digest"] if body else ["@method", "@target-uri"]

    verifier = hms.HTTPMessageVerifier(signature_algorithm=ALGORITHMS[alg], key_resolver=Keys(public={keyid: public_key}))
    results = verifier.verify(Request(request["method"], request["targetURI"], lines), expect_tag=TAG, expect_label=LABEL,
                              require_components=components, body=body if body else None,
                              max_age=datetime.timedelta(seconds=300))
    if len(results) != 1:
        raise ValueError(f"{len(results)} signatures selected")
    result = results[0]
    params = result.parameters
    # The profile, beyond what the package checks for us.
    covered = [c for c in result.covered_components if c != '"@signature-params"']
    if covered != [f'"{c}"' for c in components]:
        raise ValueError(f"covered components {covered}, want exactly {components}")
    if set(params) != {"created", "expires", "nonce", "keyid", "alg", "tag"}:
        raise ValueError(f"parameters {sorted(params)}")
    if params["keyid"] != keyid:
        raise ValueError(f"keyid {params['keyid']} is not the key's kid {keyid}")
    if params["alg"] != alg:
        raise ValueError(f"alg {params['alg']} for an {alg} key")
    if not 0 < params["expires"] - params["created"] <= 300:
        raise ValueError(f"lifetime {params['expires'] - params['created']} s")
    if len(b64url_decode(params["nonce"])) < 16:
        raise ValueError("nonce under 16 bytes")
    if body:
        want = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        if field(lines, "content-digest") != want:
            raise ValueError(f"Content-Digest {field(lines, 'content-digest')!r}, hashlib gives {want!r}")


def verify(directory):
    entries = json.load(open(os.path.join(directory, "swift-requests.json")))
    for entry in entries:
        try:
            verify_one(entry)
            print(json.dumps({"name": entry["name"], "ok": True}))
        except Exception as error:  # every refusal is reported, whatever raised it
            print(json.dumps({"name": entry["name"], "ok": False, "error": f"{type(error).__name__}: {error}"}))


def sign(directory, now):
    created = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
    expires = created + datetime.timedelta(seconds=300)
    requests = [
        ("POST", "https://permits.example.cn/v1/authorities/330114/applications", [("Content-Type", "application/json")],
         json.dumps({"reference": "R-2026-0001", "plate": "浙A12345"}, ensure_ascii=False).encode()),
        ("GET", "https://permits.example.cn/v1/authorities/330114/applications?limit=50&after=A000120", [], b""),
    ]
    entries = []
    for alg, private_key in (("ed25519", ed25519.Ed25519PrivateKey.generate()),
                             ("ecdsa-p256-sha256", ec.generate_private_key(ec.SECP256R1()))):
        keyid = kid(private_key.public_key())
        pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        signer = hms.HTTPMessageSigner(signature_algorithm=ALGORITHMS[alg], key_resolver=Keys(private={keyid: private_key}))
        for method, url, lines, body in requests:
            message = Request(method, url, lines)
            components = ("@method", "@target-uri", "content-type", "content-digest") if body else ("@method", "@target-uri")
            nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
            signer.sign(message, key_id=keyid, created=created, expires=expires, nonce=nonce, label=LABEL, tag=TAG,
                        covered_component_ids=components, body=body if body else None)
            entries.append({"name": f"python-{alg}-{method.lower()}", "publicKeyPEM": pem,
                            "request": {"method": method, "targetURI": url, "headers": message.headers.items(),
                                        "body": base64.b64encode(body).decode()}})
    with open(os.path.join(directory, "python-requests.json"), "w") as out:
        json.dump(entries, out, ensure_ascii=False, indent=1)
    for entry in entries:
        print(json.dumps({"name": entry["name"], "ok": True}))


def signed_headers(method, url, key_file, now, body=b"", content_type=None):
    """The header fields of a request to `url` signed with the package and the private key in
    `key_file` (PKCS#8 PEM) at Unix time `now`, under the contract's profile."""
    private_key = serialization.load_pem_private_key(open(key_file, "rb").read(), password=None)
    alg = "ed25519" if isinstance(private_key, ed25519.Ed25519PrivateKey) else "ecdsa-p256-sha256"
    keyid = kid(private_key.public_key())
    created = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
    message = Request(method, url, [("Content-Type", content_type)] if body else [])
    components = ("@method", "@target-uri", "content-type", "content-digest") if body else ("@method", "@target-uri")
    signer = hms.HTTPMessageSigner(signature_algorithm=ALGORITHMS[alg], key_resolver=Keys(private={keyid: private_key}))
    signer.sign(message, key_id=keyid, created=created, expires=created + datetime.timedelta(seconds=300),
                nonce=base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(), label=LABEL, tag=TAG,
                covered_component_ids=components, body=body if body else None)
    return message.headers.items()


def send(method, url, key_file, now, body=b"", content_type=None):
    import urllib.error
    import urllib.request

    headers = dict(signed_headers(method, url, key_file, now, body, content_type))
    request = urllib.request.Request(url, data=body if body else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8", "replace")
    print(json.dumps({"status": status, "body": text}, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "sign":
        sign(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) in (6, 8) and sys.argv[1] == "send":
        body = open(sys.argv[6], "rb").read() if len(sys.argv) == 8 else b""
        send(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), body, sys.argv[7] if len(sys.argv) == 8 else None)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
