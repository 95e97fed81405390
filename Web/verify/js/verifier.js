// The checkpoint's pipeline in the browser, step for step as permit-payload.md §6 and our Swift
// verifier (Sources/PermitVerify) run it: prefix, Base45, bounded inflate, COSE structure,
// algorithm, key lookup, signature, claims and issuer binding, key validity at issuance, then
// the policies (validity window with skew, revocation, plate match) and the staleness warnings.
// A result has the shape of one `permit verify --json` line. Claims appear in a result only
// after the signature has verified with a trusted key.

import {
  DecodeError, CBORDecoder, base45Decode, inflateBounded, utf8, toHex, fromHex, fromBase64, bytesEqual,
  concat, cborHead, cborInt64, cborTypeName, cborEqual, cborInt, mapGet, decodeUTF8, scalarCount,
} from "./codec.js";

export const PREFIX = "FP1:";
const PREFIX_BYTES = utf8(PREFIX);
export const DEFAULT_SKEW = 300;

/** The CBOR limits a verifier applies to untrusted payloads (PermitText.decoder). */
const payloadDecoder = new CBORDecoder({ maxDepth: 32, maxIndefiniteDepth: 16, rejectDuplicateKeys: true });
/** The default decoder, which trust and revocation lists are read with. */
const listDecoder = new CBORDecoder();

const ED25519_SPKI_PREFIX = new Uint8Array([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

// ---------- COSE_Sign1 (RFC 9052) ----------

class COSEError extends Error {
  constructor(kind, detail) {
    super(detail);
    this.kind = kind;
  }
}

/** Decodes a COSE_Sign1, tagged with 18 or untagged; any other tag or shape is malformed. */
export function decodeCOSE(bytes, decoder) {
  let item;
  try {
    item = decoder.decode(bytes);
  } catch (e) {
    throw new COSEError("malformed", e.message);
  }
  let body = item;
  let tagged = false;
  if (item.t === "tag") {
    if (item.tag !== 18) throw new COSEError("malformed", `CBOR tag ${item.tag} is not COSE_Sign1's tag 18`);
    body = item.v;
    tagged = true;
  }
  if (body.t !== "a" || body.v.length !== 4) throw new COSEError("malformed", "a COSE_Sign1 is an array of 4 items");
  const [p, u, payload, signature] = body.v;
  if (p.t !== "b") throw new COSEError("malformed", "the protected header must be a byte string");
  let protectedHeader = [];
  if (p.v.length > 0) {
    let h;
    try {
      h = decoder.decode(p.v);
    } catch {
      h = null;
    }
    if (!h || h.t !== "m") throw new COSEError("malformed", "the protected header must hold a CBOR map");
    protectedHeader = h.v;
  }
  if (u.t !== "m") throw new COSEError("malformed", "the unprotected header must be a map");
  if (payload.t !== "b") throw new COSEError("malformed", "the payload must be a byte string (detached payloads are not used)");
  if (signature.t !== "b") throw new COSEError("malformed", "the signature must be a byte string");
  return { protectedBytes: p.v, protectedHeader, unprotectedHeader: u.v, payload: payload.v, signature: signature.v, tagged };
}

function header(cose, label, protectedOnly) {
  const v = mapGet(cose.protectedHeader, label);
  if (v !== undefined) return v;
  if (protectedOnly) return undefined;
  return mapGet(cose.unprotectedHeader, label);
}

/** The kid: protected header first, then unprotected; null when it is not a byte string. */
function coseKid(cose) {
  const v = header(cose, 4, false);
  return v && v.t === "b" ? v.v : null;
}

/** "EdDSA" or "ES256" from the protected header's alg (-8/-19, -7/-9); throws otherwise. */
function coseAlgorithm(cose) {
  const v = header(cose, 1, true);
  if (v === undefined) throw new COSEError("unsupportedAlgorithm", "no alg in the protected header");
  const alg = cborInt64(v);
  if (alg === null) throw new COSEError("unsupportedAlgorithm", `alg (${cborTypeName(v)}) is not a registered integer algorithm`);
  if (alg === -8n || alg === -19n) return "EdDSA";
  if (alg === -7n || alg === -9n) return "ES256";
  throw new COSEError("unsupportedAlgorithm", `alg ${alg} is not supported (EdDSA -8/-19 and ES256 -7/-9 are)`);
}

/** Sig_structure = ["Signature1", protected, h'', payload]; an empty protected map signs as h''. */
function toBeSigned(cose) {
  const prot = cose.protectedHeader.length === 0 ? new Uint8Array(0) : cose.protectedBytes;
  return concat(
    new Uint8Array([0x84, 0x6a]), utf8("Signature1"),
    new Uint8Array(cborHead(2, prot.length)), prot,
    new Uint8Array([0x40]),
    new Uint8Array(cborHead(2, cose.payload.length)), cose.payload,
  );
}

// ---------- keys ----------

const subtle = globalThis.crypto.subtle;

/** An Ed25519 or P-256 public key from DER SPKI, with its kid (first 8 bytes of SHA-256 of the SPKI; P-256 uncompressed). */
export async function importPublicKey(der) {
  if (der.length === ED25519_SPKI_PREFIX.length + 32 && bytesEqual(der.subarray(0, 12), ED25519_SPKI_PREFIX)) {
    const key = await subtle.importKey("spki", der, { name: "Ed25519" }, true, ["verify"]);
    const spki = new Uint8Array(der);
    return { alg: "EdDSA", key, spki, kid: new Uint8Array(await subtle.digest("SHA-256", spki)).subarray(0, 8) };
  }
  let key;
  try {
    key = await subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  } catch {
    throw new Error("not an Ed25519 or P-256 SubjectPublicKeyInfo");
  }
  // Re-encoded, so that the kid always covers the uncompressed point.
  const spki = new Uint8Array(await subtle.exportKey("spki", key));
  return { alg: "ES256", key, spki, kid: new Uint8Array(await subtle.digest("SHA-256", spki)).subarray(0, 8) };
}

/** A public key from base64 SPKI or PEM text. */
export async function importPublicKeyText(text) {
  const body = text.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
  const der = fromBase64(body);
  if (!der) throw new Error("the key is not base64 DER or PEM SubjectPublicKeyInfo");
  return importPublicKey(der);
}

async function verifySignature(pub, signature, message) {
  try {
    if (pub.alg === "EdDSA") return await subtle.verify({ name: "Ed25519" }, pub.key, signature, message);
    return await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub.key, signature, message);
  } catch {
    return false;
  }
}

// ---------- RFC 3339 (as PermitSeal's RFC3339.date reads it) ----------

function isLeap(y) {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Seconds since 1970 for `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; null for anything else. */
export function parseRFC3339(text) {
  if (typeof text !== "string") return null;
  const c = utf8(text);
  const num = (from, count) => {
    if (from + count > c.length) return null;
    let n = 0;
    for (let i = from; i < from + count; i++) {
      if (c[i] < 48 || c[i] > 57) return null;
      n = n * 10 + (c[i] - 48);
    }
    return n;
  };
  if (c.length < 20 || c[4] !== 45 || c[7] !== 45 || (c[10] !== 84 && c[10] !== 116) || c[13] !== 58 || c[16] !== 58) return null;
  const y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if ([y, mo, d, h, mi, s].includes(null)) return null;
  const dim = [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > dim[mo - 1] || h >= 24 || mi >= 60 || s >= 61) return null;
  let i = 19;
  let fraction = 0;
  if (c[i] === 46) {
    let scale = 0.1;
    i++;
    const start = i;
    while (i < c.length && c[i] >= 48 && c[i] <= 57) {
      fraction += (c[i] - 48) * scale;
      scale /= 10;
      i++;
    }
    if (i === start) return null;
  }
  if (i >= c.length) return null;
  let offset = 0;
  if (c[i] === 90 || c[i] === 122) {
    if (i + 1 !== c.length) return null;
  } else if (c[i] === 43 || c[i] === 45) {
    const oh = num(i + 1, 2), om = num(i + 4, 2);
    if (i + 6 !== c.length || c[i + 3] !== 58 || oh === null || om === null || oh >= 24 || om >= 60) return null;
    offset = (oh * 3600 + om * 60) * (c[i] === 43 ? 1 : -1);
  } else {
    return null;
  }
  return daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset + fraction;
}

/** RFC 3339 in UTC, whole seconds. */
export function rfc3339(seconds) {
  const t = Math.floor(Number(seconds));
  if (!Number.isFinite(t) || Math.abs(t) > 8.64e12) return String(seconds);
  return new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

// ---------- trust and revocation lists (permit-payload.md §5) ----------

export class ListError extends Error {
  constructor(code, detail) {
    super(detail);
    this.code = code;
  }
}

/** The payload of a COSE_Sign1 that one of `signers` signed (matched by kid, then signature). */
async function verifiedListPayload(signed, signers, what) {
  let cose;
  try {
    cose = decodeCOSE(signed, listDecoder);
  } catch (e) {
    throw new ListError("unsigned", `the ${what} is not a signed COSE_Sign1 message (${e.message})`);
  }
  const kid = coseKid(cose);
  let alg = null;
  try {
    alg = coseAlgorithm(cose);
  } catch {
    alg = null;
  }
  const tbs = toBeSigned(cose);
  for (const key of signers) {
    if (kid && !bytesEqual(key.kid, kid)) continue;
    if (alg !== key.alg) continue;
    if (await verifySignature(key, cose.signature, tbs)) return cose.payload;
  }
  throw new ListError("signatureInvalid", `the ${what}'s signature does not verify with any key allowed to sign it (kid ${kid ? toHex(kid) : "none"})`);
}

function listJSON(payload, what) {
  const text = decodeUTF8(payload);
  let doc = null;
  try {
    doc = text === null ? null : JSON.parse(text);
  } catch {
    doc = null;
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new ListError("malformed", `the ${what} is not valid JSON of its schema`);
  return doc;
}

const isInt = (v) => typeof v === "number" && Number.isInteger(v);
const isStr = (v) => typeof v === "string";

/**
 * Verifies a signed trust list against the pinned root and resolves its keys: each kid is
 * recomputed from its public key, each alg matches the key, each authority is 6 digits and
 * each signing window is RFC 3339. An unsigned or altered list is an error, never a fallback.
 */
export async function verifyTrustList(signed, root) {
  const doc = listJSON(await verifiedListPayload(signed, [root], "trust list"), "trust list");
  const fields = ["format", "issuedAt", "nextUpdate"].every((f) => isStr(doc[f])) && isInt(doc.version) && isInt(doc.sequence) && Array.isArray(doc.keys);
  if (!fields) throw new ListError("malformed", "the trust list is not valid JSON of its schema");
  if (doc.format !== "freight-permit-trust-list") throw new ListError("wrongFormat", `format is "${doc.format}", expected "freight-permit-trust-list"`);
  if (doc.version !== 1) throw new ListError("unsupportedVersion", `trust list version ${doc.version} is not supported`);
  const keys = [];
  for (const [i, e] of doc.keys.entries()) {
    const strings = ["kid", "alg", "authority", "name", "nameEn", "phone", "publicKey", "notBefore", "notAfter"];
    if (!e || typeof e !== "object" || !strings.every((f) => isStr(e[f]))) throw new ListError("malformed", `keys[${i}] is not valid JSON of its schema`);
    const der = fromBase64(e.publicKey);
    if (!der) throw new ListError("invalidField", `keys[${i}].publicKey is not base64`);
    let pub;
    try {
      pub = await importPublicKey(der);
    } catch (err) {
      throw new ListError("invalidField", `keys[${i}].publicKey: ${err.message}`);
    }
    if (toHex(pub.kid) !== e.kid) throw new ListError("kidMismatch", `keys[${i}].kid is ${e.kid} but its public key's kid is ${toHex(pub.kid)}`);
    if (pub.alg !== e.alg) throw new ListError("invalidField", `keys[${i}].alg is ${e.alg} but the key is ${pub.alg}`);
    if (!/^[0-9]{6}$/.test(e.authority)) throw new ListError("invalidField", `keys[${i}].authority "${e.authority}" is not a 6-digit division code`);
    const notBefore = parseRFC3339(e.notBefore), notAfter = parseRFC3339(e.notAfter);
    if (notBefore === null || notAfter === null) throw new ListError("invalidField", `keys[${i}] has a notBefore or notAfter that is not RFC 3339`);
    keys.push({ ...pub, kidHex: e.kid, authority: e.authority, name: e.name, nameEn: e.nameEn, phone: e.phone, notBefore, notAfter });
  }
  const nextUpdate = parseRFC3339(doc.nextUpdate);
  if (nextUpdate === null) throw new ListError("invalidField", `nextUpdate "${doc.nextUpdate}" is not RFC 3339`);
  return { sequence: doc.sequence, issuedAt: parseRFC3339(doc.issuedAt), nextUpdate, keys };
}

/**
 * Verifies a signed revocation list: it must be signed by a key of its authority in the trust
 * list, or by the root. Its hashes are 32 hex digits.
 */
export async function verifyRevocationList(signed, trust, root) {
  let claimed = null;
  try {
    const cose = decodeCOSE(signed, listDecoder);
    const doc = listJSON(cose.payload, "revocation list");
    claimed = isStr(doc.authority) ? doc.authority : null;
  } catch {
    claimed = null;
  }
  if (claimed === null) throw new ListError("unsigned", "not a signed revocation list (a COSE_Sign1 holding its JSON document)");
  const signers = trust.keys.filter((k) => k.authority === claimed).concat(root ? [root] : []);
  if (signers.length === 0) throw new ListError("signatureInvalid", `the revocation list claims authority ${claimed}, which has no key in the trust list, and no root was given`);
  const doc = listJSON(await verifiedListPayload(signed, signers, "revocation list"), "revocation list");
  const fields = ["format", "authority", "issuedAt", "nextUpdate"].every((f) => isStr(doc[f])) && isInt(doc.version) && isInt(doc.sequence) && Array.isArray(doc.revoked);
  if (!fields) throw new ListError("malformed", "the revocation list is not valid JSON of its schema");
  if (doc.format !== "freight-permit-revocations") throw new ListError("wrongFormat", `format is "${doc.format}", expected "freight-permit-revocations"`);
  if (doc.version !== 1) throw new ListError("unsupportedVersion", `revocation list version ${doc.version} is not supported`);
  const hashes = new Set();
  for (const [i, e] of doc.revoked.entries()) {
    if (!e || typeof e !== "object" || !isStr(e.hash) || !isStr(e.revokedAt) || !isStr(e.reason)) throw new ListError("malformed", `revoked[${i}] is not valid JSON of its schema`);
    if (!/^[0-9a-fA-F]{32}$/.test(e.hash)) throw new ListError("invalidField", `revoked[${i}].hash "${e.hash}" is not 32 hex digits`);
    hashes.add(e.hash.toLowerCase());
  }
  const nextUpdate = parseRFC3339(doc.nextUpdate);
  if (nextUpdate === null) throw new ListError("invalidField", `nextUpdate "${doc.nextUpdate}" is not RFC 3339`);
  return { authority: doc.authority, sequence: doc.sequence, issuedAt: parseRFC3339(doc.issuedAt), nextUpdate, hashes };
}

// ---------- CWT claims (§3, §4), as PermitClaims(_ item:) reads them ----------

class ClaimsError extends Error {
  constructor(field, detail) {
    super(`${field}: ${detail}`);
  }
}

const LIMITS = { crewName: 10, cargoDescription: 24, address: 16, firmName: 24, condition: 20, conditions: 2, via: 5, crewMin: 1, crewMax: 3 };

class ClaimReader {
  constructor(item, field) {
    if (item.t !== "m") throw new ClaimsError(field || "claims", `expected a map, found ${cborTypeName(item)}`);
    this.pairs = item.v;
    this.field = field;
  }
  path(name) {
    return this.field ? `${this.field}.${name}` : name;
  }
  optional(key) {
    return mapGet(this.pairs, key);
  }
  required(key, name) {
    const v = this.optional(key);
    if (v === undefined) throw new ClaimsError(this.path(name), `missing (key ${key})`);
    return v;
  }
  checkText(v, name, max) {
    if (v.t !== "s") throw new ClaimsError(this.path(name), `expected text, found ${cborTypeName(v)}`);
    if (max !== undefined && scalarCount(v.v) > max) throw new ClaimsError(this.path(name), `${scalarCount(v.v)} characters; at most ${max}`);
    return v.v;
  }
  text(key, name, max) {
    return this.checkText(this.required(key, name), name, max);
  }
  optionalText(key, name, max) {
    const v = this.optional(key);
    return v === undefined ? undefined : this.checkText(v, name, max);
  }
  uint(key, name) {
    const v = this.required(key, name);
    if (v.t !== "u") throw new ClaimsError(this.path(name), `expected an unsigned integer, found ${cborTypeName(v)}`);
    return v.v;
  }
  optionalUInt(key, name) {
    const v = this.optional(key);
    if (v === undefined) return undefined;
    if (v.t !== "u") throw new ClaimsError(this.path(name), `expected an unsigned integer, found ${cborTypeName(v)}`);
    return v.v;
  }
  array(key, name) {
    const v = this.required(key, name);
    if (v.t !== "a") throw new ClaimsError(this.path(name), `expected an array, found ${cborTypeName(v)}`);
    return v.v;
  }
}

const digits = (s, n) => s.length === n && /^[0-9]+$/.test(s);

function uints(items, field) {
  return items.map((c, i) => {
    if (c.t !== "u") throw new ClaimsError(`${field}[${i}]`, `expected an unsigned integer, found ${cborTypeName(c)}`);
    return c.v;
  });
}

function place(item, field) {
  const r = new ClaimReader(item, field);
  const out = { county: r.uint(1, "county") };
  const address = r.optionalText(2, "address", LIMITS.address);
  if (address !== undefined) out.address = address;
  return out;
}

/** Claims from the signed payload bytes, every type and limit checked; throws ClaimsError. */
export function parseClaims(bytes) {
  let item;
  try {
    item = payloadDecoder.decode(bytes);
  } catch (e) {
    throw new ClaimsError("claims", e.message);
  }
  const m = new ClaimReader(item, "");
  const issuer = m.text(1, "iss");
  if (!digits(issuer, 6)) throw new ClaimsError("iss", `"${issuer}" is not a 6-digit division code`);
  // Times are BigInts, exact for any uint (a Number would round above 2^53).
  const expiresAt = BigInt(m.uint(4, "exp"));
  const notBefore = BigInt(m.uint(5, "nbf"));
  const issuedAt = BigInt(m.uint(6, "iat"));
  const permit = parsePermit(m.required(-70001, "permit"));
  if (!(expiresAt > notBefore)) throw new ClaimsError("exp", `exp ${expiresAt} is not after nbf ${notBefore}`);
  return { issuer, expiresAt, notBefore, issuedAt, permit };
}

function parsePermit(item) {
  const m = new ClaimReader(item, "permit");
  const number = m.text(1, "number");
  if (!digits(number, 12)) throw new ClaimsError("permit.number", `"${number}" is not 12 digits`);
  const v = new ClaimReader(m.required(2, "vehicle"), "permit.vehicle");
  const vehicle = { plate: v.text(1, "plate", 8), plateColor: v.uint(2, "plateColor") };
  const crewItems = m.array(3, "crew");
  if (crewItems.length < LIMITS.crewMin || crewItems.length > LIMITS.crewMax) throw new ClaimsError("permit.crew", `${crewItems.length} crew members; 1 to 3 are allowed`);
  const crew = crewItems.map((c, i) => {
    const r = new ClaimReader(c, `permit.crew[${i}]`);
    return { name: r.text(1, "name", LIMITS.crewName), maskedDocument: r.text(2, "document", 32), maskedPhone: r.text(3, "phone", 20), role: r.uint(4, "role") };
  });
  const cg = new ClaimReader(m.required(4, "cargo"), "permit.cargo");
  const categoryItems = cg.array(1, "categories");
  if (categoryItems.length === 0) throw new ClaimsError("permit.cargo.categories", "no category");
  const cargo = { categories: uints(categoryItems, "permit.cargo.categories"), description: cg.text(2, "description", LIMITS.cargoDescription) };
  const weight = cg.optionalUInt(3, "weightKg");
  if (weight !== undefined) cargo.weightKg = weight;
  const origin = place(m.required(5, "origin"), "permit.origin");
  const destination = place(m.required(6, "destination"), "permit.destination");
  let via;
  const viaItem = m.optional(7);
  if (viaItem !== undefined) {
    if (viaItem.t !== "a") throw new ClaimsError("permit.via", `expected an array, found ${cborTypeName(viaItem)}`);
    if (viaItem.v.length > LIMITS.via) throw new ClaimsError("permit.via", `${viaItem.v.length} via points; at most ${LIMITS.via}`);
    via = uints(viaItem.v, "permit.via");
  }
  const approvedBy = uints(m.array(8, "approvedBy"), "permit.approvedBy");
  const a = new ClaimReader(m.required(9, "applicant"), "permit.applicant");
  const applicant = { name: a.text(1, "name", LIMITS.firmName), creditCode: a.text(2, "creditCode", 18) };
  const trips = m.uint(10, "trips");
  let conditions;
  const condItem = m.optional(11);
  if (condItem !== undefined) {
    if (condItem.t !== "a") throw new ClaimsError("permit.conditions", `expected an array, found ${cborTypeName(condItem)}`);
    if (condItem.v.length > LIMITS.conditions) throw new ClaimsError("permit.conditions", `${condItem.v.length} conditions; at most ${LIMITS.conditions}`);
    conditions = condItem.v.map((c, i) => {
      if (c.t !== "s") throw new ClaimsError(`permit.conditions[${i}]`, `expected text, found ${cborTypeName(c)}`);
      if (scalarCount(c.v) > LIMITS.condition) throw new ClaimsError(`permit.conditions[${i}]`, `longer than ${LIMITS.condition} characters`);
      return c.v;
    });
  }
  const permit = { number, vehicle, crew, cargo, origin, destination };
  if (via !== undefined) permit.via = via;
  permit.approvedBy = approvedBy;
  permit.applicant = applicant;
  permit.trips = trips;
  if (conditions !== undefined) permit.conditions = conditions;
  return permit;
}

// ---------- plates ----------

const PLATE_IGNORED = new Set([" ", "\u3000", "·", "•", "・", "-", "\u2027", "\t"]);

/** NFC, upper-cased, without spaces and the separators people write inside plates. */
export function normalizePlate(plate) {
  let out = "";
  for (const ch of plate.normalize("NFC").toUpperCase()) if (!PLATE_IGNORED.has(ch)) out += ch;
  return out;
}

// ---------- claim times: exact, for any uint ----------

const INT64_MAX = 2n ** 63n - 1n;
/** The instants whose UTC date lies in the years 1–9999 (CivilTime.representable). */
const FIRST_SECOND = -62135596800n;
const LAST_SECOND = 253402300799n;
const CHINA_OFFSET = 8n * 3600n;

/**
 * CivilTime's rule, as `permit verify` writes a claim's time: a date when it lies in the years
 * 1–9999, otherwise the claim's own seconds since 1970 in decimal ("18446744073709551615").
 * Digits alone are never a date, and the number is exactly the signed value.
 */
function dayIfRepresentable(s) {
  const local = s + CHINA_OFFSET;
  if (local > INT64_MAX || local < FIRST_SECOND || local > LAST_SECOND) return null;
  return new Date(Number(local) * 1000).toISOString().slice(0, 10);
}

/** YYYY-MM-DD (China Standard Time) of a claim such as nbf: the first day of validity. */
export function claimDay(s) {
  return s <= INT64_MAX ? dayIfRepresentable(s) ?? s.toString() : s.toString();
}

/** The last day of validity, the day of exp − 1; exp itself in decimal when that day is not representable. */
export function claimLastDay(exp) {
  return exp <= INT64_MAX ? dayIfRepresentable(exp - 1n) ?? exp.toString() : exp.toString();
}

/** RFC 3339 in UTC of a claim such as exp, nbf or iat; its decimal seconds outside the years 1–9999. */
export function claimRFC3339(s) {
  if (s < FIRST_SECOND || s > LAST_SECOND) return s.toString();
  return new Date(Number(s) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A finite Number as an exact fraction [numerator, denominator], the denominator a power of 2. */
function exact(x) {
  let d = 1n;
  while (!Number.isInteger(x)) {
    x *= 2; // exact: a double that is not an integer is below 2^52
    d *= 2n;
  }
  return [BigInt(x), d];
}

/**
 * The sign of (x + y) − n, computed exactly, for Numbers x and y (the clock, a skew, a key's
 * window) and a BigInt claim n: no rounding of either side. NaN when x or y is not finite and the
 * comparison cannot decide (as a double comparison would be false).
 */
function compare(x, y, n) {
  if (!Number.isFinite(x) || !Number.isFinite(y)) {
    const s = x + y;
    return s === Infinity ? 1 : s === -Infinity ? -1 : NaN;
  }
  const [a, da] = exact(x), [b, db] = exact(y);
  const diff = a * db + b * da - n * da * db;
  return diff > 0n ? 1 : diff < 0n ? -1 : 0;
}

// ---------- the verifier ----------

export class Verifier {
  /**
   * trust: a verified trust list (verifyTrustList); revocations: verified revocation lists.
   */
  constructor(trust, revocations = []) {
    this.trust = trust;
    this.revocations = revocations;
    this.byKid = new Map();
    for (const k of trust.keys) {
      const hex = toHex(k.kid);
      if (!this.byKid.has(hex)) this.byKid.set(hex, []);
      this.byKid.get(hex).push(k);
    }
    this.revocationsByAuthority = new Map();
    for (const r of revocations) {
      if (!this.revocationsByAuthority.has(r.authority)) this.revocationsByAuthority.set(r.authority, []);
      this.revocationsByAuthority.get(r.authority).push(r);
    }
  }

  /** Warnings that hold whatever the payload: stale lists. */
  warnings(now) {
    const w = [];
    if (this.trust.nextUpdate !== null && now > this.trust.nextUpdate) {
      w.push({ code: "trustListStale", detail: `the trust list was due for an update at ${rfc3339(this.trust.nextUpdate)}` });
    }
    for (const r of this.revocations) {
      if (r.nextUpdate !== null && now > r.nextUpdate) {
        w.push({ code: "revocationListStale", detail: `authority ${r.authority}'s revocation list was due for an update at ${rfc3339(r.nextUpdate)}` });
      }
    }
    return w;
  }

  /**
   * Verifies one FP1 text. options: now (seconds since 1970; default the system clock), skew
   * (seconds, default 300), plate (the plate read off the truck, or null).
   * Resolves to an object shaped like one `permit verify --json` line (without `index`).
   */
  async verify(text, { now = Date.now() / 1000, skew = DEFAULT_SKEW, plate = null } = {}) {
    const warnings = this.warnings(now);
    const refuse = (reason, stage, detail, claims = null, signer = null) => result("invalid", reason, stage, detail, warnings, claims, signer);

    // 1 prefix
    const bytes = utf8(String(text));
    if (bytes.length < PREFIX_BYTES.length || !bytesEqual(bytes.subarray(0, PREFIX_BYTES.length), PREFIX_BYTES)) {
      return refuse("unknownPrefix", "prefix", `the text does not start with ${PREFIX}`);
    }
    // 2 Base45
    let compressed;
    try {
      compressed = base45Decode(bytes.subarray(PREFIX_BYTES.length));
    } catch (e) {
      return refuse("base45Invalid", "base45", e.message);
    }
    // 3 bounded inflate, unless it is a bare COSE_Sign1 (0xD2 tag 18, 0x84 array of 4)
    let coseBytes;
    if (compressed.length > 0 && (compressed[0] === 0xd2 || compressed[0] === 0x84)) {
      coseBytes = compressed;
    } else {
      try {
        coseBytes = await inflateBounded(compressed);
      } catch (e) {
        return refuse("decompressionFailed", "inflate", e.message);
      }
    }
    // 4 COSE structure
    let cose;
    try {
      cose = decodeCOSE(coseBytes, payloadDecoder);
    } catch (e) {
      return refuse("coseMalformed", "coseStructure", e.message);
    }
    // 5 algorithm, from the protected header only
    let alg;
    try {
      alg = coseAlgorithm(cose);
    } catch (e) {
      return refuse("unsupportedAlgorithm", "algorithm", e.message);
    }
    // 6 key lookup
    const kid = coseKid(cose);
    if (kid === null) return refuse("unknownKey", "keyLookup", "the payload names no kid (a byte string under label 4)");
    const candidates = this.byKid.get(toHex(kid)) || [];
    if (candidates.length === 0) return refuse("unknownKey", "keyLookup", `no trusted key has kid ${toHex(kid)}`);
    // 7 signature: every key with that kid and algorithm, until one verifies
    const tbs = toBeSigned(cose);
    let signer = null;
    let matching = 0;
    for (const c of candidates) {
      if (c.alg !== alg) continue;
      matching++;
      if (await verifySignature(c, cose.signature, tbs)) {
        signer = c;
        break;
      }
    }
    if (!signer) {
      return refuse("signatureInvalid", "signature", matching === 0
        ? `the ${candidates.length} trusted key(s) with kid ${toHex(kid)} are not ${alg} keys`
        : `the signature does not verify with the ${matching} trusted ${alg} key(s) with kid ${toHex(kid)}`);
    }
    // 8 claims: types and limits, then iss bound to the signer and the number
    let claims;
    try {
      claims = parseClaims(cose.payload);
    } catch (e) {
      return refuse("claimsMalformed", "claims", e.message, null, signer);
    }
    if (!cborEqual({ t: "s", v: claims.issuer }, { t: "s", v: signer.authority })) {
      return refuse("issuerMismatch", "claims", `iss ${claims.issuer} is not the signing key's authority ${signer.authority}`, claims, signer);
    }
    if (!claims.permit.number.startsWith(claims.issuer)) {
      return refuse("issuerMismatch", "claims", `permit number ${claims.permit.number} does not start with iss ${claims.issuer}`, claims, signer);
    }
    // 9 key valid at iat (both ends inclusive)
    // (compared exactly: notBefore ≤ iat ≤ notAfter, iat any uint)
    const iat = claims.issuedAt;
    if (!(compare(signer.notBefore, 0, iat) <= 0 && compare(signer.notAfter, 0, iat) >= 0)) {
      return refuse("keyNotValidAtIssuance", "keyValidity",
        `issued at ${claimRFC3339(iat)}, outside key ${signer.kidHex}'s signing window ${rfc3339(signer.notBefore)}…${rfc3339(signer.notAfter)}`, claims, signer);
    }
    // 10 policies: validity window with skew (nbf − skew ≤ now < exp + skew, exactly), revocation, plate
    if (compare(now, skew, claims.notBefore) < 0) {
      return refuse("notYetValid", "validityWindow", `valid from ${claimRFC3339(claims.notBefore)}; now is ${rfc3339(now)} (skew ${skew} s)`, claims, signer);
    }
    if (compare(now, -skew, claims.expiresAt) >= 0) {
      return refuse("expired", "validityWindow", `valid until ${claimRFC3339(claims.expiresAt)}; now is ${rfc3339(now)} (skew ${skew} s)`, claims, signer);
    }
    const lists = this.revocationsByAuthority.get(claims.issuer);
    if (lists) {
      const hash = toHex(new Uint8Array(await subtle.digest("SHA-256", cose.signature)).subarray(0, 16));
      for (const list of lists) {
        if (list.hashes.has(hash)) {
          return refuse("revoked", "revocation", `permit ${claims.permit.number} (hash ${hash}) is in authority ${list.authority}'s revocation list #${list.sequence}`, claims, signer);
        }
      }
    }
    if (plate !== null && plate !== undefined) {
      const a = normalizePlate(claims.permit.vehicle.plate), b = normalizePlate(plate);
      if (!(a === b || a.normalize("NFC") === b.normalize("NFC"))) {
        return refuse("plateMismatch", "plateMatch", `the permit is for plate ${claims.permit.vehicle.plate}, not ${plate}`, claims, signer);
      }
    }
    return result("valid", null, null, null, warnings, claims, signer);
  }
}

function result(outcome, reason, stage, detail, warnings, claims, signer) {
  const r = { outcome };
  if (reason) r.reason = reason;
  if (stage) r.stage = stage;
  if (detail) r.detail = detail;
  r.warnings = warnings;
  if (claims) r.number = claims.permit.number;
  if (signer) r.issuer = { authority: signer.authority, name: signer.name, nameEn: signer.nameEn, phone: signer.phone, kid: signer.kidHex };
  if (claims) {
    r.validity = {
      from: claimDay(claims.notBefore),
      until: claimLastDay(claims.expiresAt),
      notBefore: claimRFC3339(claims.notBefore),
      expiresAt: claimRFC3339(claims.expiresAt),
      issuedAt: claimRFC3339(claims.issuedAt),
    };
    r.permit = jsonSafe(claims.permit);
  }
  return r;
}

/** BigInt claim values (above 2^53) as decimal strings, so that results survive JSON. */
function jsonSafe(v) {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = jsonSafe(x);
    return o;
  }
  return v;
}

export { DecodeError, cborInt, fromHex };
