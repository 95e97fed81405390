// Decoding layers of the FP1 payload (permit-payload.md §1–3): Base45 (RFC 9285), bounded zlib
// inflate through DecompressionStream, and a CBOR reader (RFC 8949) with the limits our Swift
// decoder applies to untrusted input. Nothing here trusts what it reads.

export class DecodeError extends Error {
  constructor(kind, detail) {
    super(detail);
    this.kind = kind;
  }
}

// ---------- bytes, hex, base64, UTF-8 ----------

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

export function fromHex(text) {
  if (typeof text !== "string" || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function fromBase64(text) {
  if (typeof text !== "string") return null;
  const clean = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) return null;
  try {
    const bin = atob(clean);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

export function toBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, as in Swift's String(validating:); ignoreBOM: a leading
// U+FEFF is content, not stripped.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8(text) {
  return utf8Encoder.encode(text);
}

/** The string of valid UTF-8 bytes, or null. */
export function decodeUTF8(bytes) {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** Number of Unicode scalars (code points) in a string of valid UTF-8. */
export function scalarCount(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++;
    n++;
  }
  return n;
}

// ---------- Base45 (RFC 9285) ----------

const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const B45_VALUES = new Int8Array(256).fill(-1);
for (let i = 0; i < B45.length; i++) B45_VALUES[B45.charCodeAt(i)] = i;

/** Decodes Base45 given as UTF-8 bytes (any byte outside the alphabet is an error). */
export function base45Decode(chars) {
  const count = chars.length;
  if (count % 3 === 1) throw new DecodeError("danglingCharacter", `a single character is left over at offset ${count - 1}; Base45 groups are 2 or 3 characters`);
  const out = new Uint8Array(Math.floor(count / 3) * 2 + (count % 3 === 2 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < count; ) {
    const len = Math.min(3, count - i);
    let n = 0;
    let factor = 1;
    for (let j = 0; j < len; j++) {
      const v = B45_VALUES[chars[i + j]];
      if (v < 0) throw new DecodeError("invalidCharacter", `character at offset ${i + j} is outside the Base45 alphabet`);
      n += v * factor;
      factor *= 45;
    }
    if (len === 3) {
      if (n > 0xffff) throw new DecodeError("valueTooLarge", `the group at offset ${i} decodes to more than its bytes can hold`);
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      if (n > 0xff) throw new DecodeError("valueTooLarge", `the group at offset ${i} decodes to more than its bytes can hold`);
      out[o++] = n;
    }
    i += len;
  }
  return out;
}

export function base45Encode(bytes) {
  let s = "";
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) {
    let n = (bytes[i] << 8) | bytes[i + 1];
    s += B45[n % 45];
    n = Math.floor(n / 45);
    s += B45[n % 45] + B45[Math.floor(n / 45)];
  }
  if (i < bytes.length) s += B45[bytes[i] % 45] + B45[Math.floor(bytes[i] / 45)];
  return s;
}

// ---------- zlib (RFC 1950), bounded ----------

export const MAX_INFLATED = 64 * 1024;

async function inflateOnce(data, max) {
  const ds = new DecompressionStream("deflate");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const written = writer.write(data).then(() => writer.close()).catch(() => {});
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) {
        reader.cancel().catch(() => {});
        writer.abort().catch(() => {});
        throw new DecodeError("outputTooLarge", `inflated data exceeds ${max} bytes`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError("invalidStream", `zlib: ${e && e.message ? e.message : e}`);
  }
  await written;
  return chunks.length === 1 ? chunks[0] : concat(...chunks);
}

/**
 * Inflates one zlib stream that must fill `data` exactly, producing at most `max` bytes, as our
 * Swift Zlib.inflate does. DecompressionStream("deflate") is RFC 1950 zlib; it errors on a bad
 * stream, a bad checksum and a truncated stream, and output past `max` stops the read.
 * Bytes after the end of the stream: the Compression Standard makes them an error and Chromium
 * refuses them, but engines have not always agreed, so the page also inflates all but the last
 * byte. That succeeds only when the stream ended before the last byte, that is when bytes were
 * left over.
 */
export async function inflateBounded(data, max = MAX_INFLATED) {
  const out = await inflateOnce(data, max);
  if (data.length > 0) {
    let shorter = true;
    try {
      await inflateOnce(data.subarray(0, data.length - 1), max);
    } catch {
      shorter = false;
    }
    if (shorter) throw new DecodeError("trailingBytes", "byte(s) after the end of the zlib stream");
  }
  return out;
}

// ---------- CBOR (RFC 8949) ----------
// Items: {t:"u", v} unsigned, {t:"n", v} negative (-1 - v), {t:"b", v: Uint8Array},
// {t:"s", v: string}, {t:"a", v: [items]}, {t:"m", v: [[key, value], ...]} (order kept),
// {t:"tag", tag, v}, {t:"simple", v}, {t:"bool", v}, {t:"null"}, {t:"undef"}, {t:"f", v}.
// Integers are Numbers up to 2^53 - 1 and BigInts above, so one value has one representation.

const TWO53 = 2n ** 53n;

function big(v) {
  return v < TWO53 ? Number(v) : v;
}

/** Whether two items are equal as Swift's CBOR enum compares them (texts by canonical equivalence). */
export function cborEqual(a, b) {
  if (a.t !== b.t) return false;
  switch (a.t) {
    case "u":
    case "n":
    case "simple":
    case "bool":
      return a.v === b.v;
    case "f":
      return a.v === b.v; // NaN never equals; 0 equals -0, as for Swift's Double
    case "null":
    case "undef":
      return true;
    case "b":
      return bytesEqual(a.v, b.v);
    case "s":
      return a.v === b.v || a.v.normalize("NFC") === b.v.normalize("NFC");
    case "a":
      if (a.v.length !== b.v.length) return false;
      for (let i = 0; i < a.v.length; i++) if (!cborEqual(a.v[i], b.v[i])) return false;
      return true;
    case "m":
      if (a.v.length !== b.v.length) return false;
      for (let i = 0; i < a.v.length; i++) {
        if (!cborEqual(a.v[i][0], b.v[i][0]) || !cborEqual(a.v[i][1], b.v[i][1])) return false;
      }
      return true;
    case "tag":
      return a.tag === b.tag && cborEqual(a.v, b.v);
    default:
      return false;
  }
}

export function cborTypeName(item) {
  switch (item.t) {
    case "u": case "n": return "integer";
    case "b": return "byte string";
    case "s": return "text string";
    case "a": return "array";
    case "m": return "map";
    case "tag": return "tagged item";
    case "simple": return "simple value";
    case "bool": return "boolean";
    case "null": return "null";
    case "undef": return "undefined";
    default: return "float";
  }
}

/** The item's value as an integer (Number or BigInt) when it is an integer that fits Int64. */
export function cborInt64(item) {
  const I64MAX = 2n ** 63n - 1n;
  if (item.t === "u") return BigInt(item.v) <= I64MAX ? BigInt(item.v) : null;
  if (item.t === "n") return BigInt(item.v) <= I64MAX ? -1n - BigInt(item.v) : null;
  return null;
}

/** The item for a (signed) integer key. */
export function cborInt(n) {
  return n >= 0 ? { t: "u", v: n } : { t: "n", v: -1 - n };
}

/** The value under an integer key of a map item (the first, if keys repeat). */
export function mapGet(pairs, key) {
  const k = cborInt(key);
  for (const p of pairs) if (cborEqual(p[0], k)) return p[1];
  return undefined;
}

function halfToNumber(h) {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  let mag;
  if (exp === 0) mag = mant * 2 ** -24;
  else if (exp === 31) mag = mant === 0 ? Infinity : NaN;
  else mag = (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -mag : mag;
}

/**
 * A decoder with bounds on everything an attacker controls, mirroring PermitSeal's CBORDecoder:
 * nesting deeper than maxDepth, indefinite lengths nested maxIndefiniteDepth deep, declared
 * lengths beyond the input, bytes after the item, duplicate map keys, non-minimal simple values,
 * reserved additional information and stray break bytes are all errors.
 */
export class CBORDecoder {
  constructor({ maxDepth = 64, maxIndefiniteDepth = 16, rejectDuplicateKeys = true } = {}) {
    this.maxDepth = maxDepth;
    this.maxIndefiniteDepth = maxIndefiniteDepth;
    this.rejectDuplicateKeys = rejectDuplicateKeys;
  }

  decode(bytes) {
    const r = new Reader(bytes, this);
    const item = r.item(0, 0);
    if (r.offset !== bytes.length) throw new DecodeError("trailingBytes", `CBOR trailingBytes at byte ${r.offset}: ${bytes.length - r.offset} byte(s) after the CBOR item`);
    return item;
  }
}

class Reader {
  constructor(bytes, options) {
    this.b = bytes;
    this.o = options;
    this.offset = 0;
  }

  fail(kind, at, detail) {
    throw new DecodeError(kind, `CBOR ${kind} at byte ${at}: ${detail}`);
  }

  byte() {
    if (this.offset >= this.b.length) this.fail("truncated", this.offset, "input ends where a byte was expected");
    return this.b[this.offset++];
  }

  /** The argument of an initial byte; null means indefinite length. Values are Number or BigInt. */
  argument(info, start) {
    if (info < 24) return info;
    if (info <= 27) {
      const count = 1 << (info - 24);
      if (this.b.length - this.offset < count) this.fail("truncated", this.offset, `input ends inside a ${count}-byte argument`);
      const b = this.b;
      let o = this.offset;
      let v;
      if (count === 1) v = b[o];
      else if (count === 2) v = (b[o] << 8) | b[o + 1];
      else if (count === 4) v = ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
      else {
        let x = 0n;
        for (let i = 0; i < 8; i++) x = (x << 8n) | BigInt(b[o + i]);
        v = big(x);
      }
      this.offset += count;
      return v;
    }
    if (info === 31) return null;
    this.fail("reservedAdditionalInfo", start, `additional information ${info} is reserved`);
  }

  left() {
    return this.b.length - this.offset;
  }

  take(length, start) {
    if (typeof length === "bigint" || length > this.left()) this.fail("lengthTooLarge", start, `declared length ${length} exceeds the ${this.left()} byte(s) left`);
    const s = this.b.subarray(this.offset, this.offset + length);
    this.offset += length;
    return s;
  }

  checkIndefinite(indefiniteDepth, start) {
    if (indefiniteDepth >= this.o.maxIndefiniteDepth) this.fail("indefiniteTooDeep", start, `indefinite lengths nested deeper than ${this.o.maxIndefiniteDepth} levels`);
  }

  atBreak() {
    if (this.offset >= this.b.length) this.fail("truncated", this.offset, "input ends inside an indefinite-length item");
    if (this.b[this.offset] === 0xff) {
      this.offset++;
      return true;
    }
    return false;
  }

  item(depth, indefiniteDepth) {
    if (depth > this.o.maxDepth) this.fail("tooDeep", this.offset, `nesting deeper than ${this.o.maxDepth} levels`);
    const start = this.offset;
    const initial = this.byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) return this.simpleOrFloat(info, start);
    const arg = this.argument(info, start);
    switch (major) {
      case 0:
        if (arg === null) this.fail("indefiniteLengthNotAllowed", start, "an integer cannot have indefinite length");
        return { t: "u", v: arg };
      case 1:
        if (arg === null) this.fail("indefiniteLengthNotAllowed", start, "an integer cannot have indefinite length");
        return { t: "n", v: arg };
      case 2:
      case 3: {
        let content;
        if (arg !== null) {
          content = this.take(arg, start);
        } else {
          this.checkIndefinite(indefiniteDepth, start);
          const chunks = [];
          for (;;) {
            const chunkStart = this.offset;
            const b = this.byte();
            if (b === 0xff) break;
            const len = b >> 5 === major ? this.argument(b & 0x1f, chunkStart) : null;
            if (len === null) this.fail("invalidChunk", chunkStart, "a chunk of an indefinite-length string must be a definite string of the same type");
            chunks.push(this.take(len, chunkStart));
          }
          content = concat(...chunks);
        }
        if (major === 2) return { t: "b", v: content };
        const text = decodeUTF8(content);
        if (text === null) this.fail("invalidUTF8", start, "text string is not valid UTF-8");
        return { t: "s", v: text };
      }
      case 4: {
        const items = [];
        if (arg !== null) {
          if (typeof arg === "bigint" || arg > this.left()) this.fail("lengthTooLarge", start, `declared ${arg} elements exceed the ${this.left()} byte(s) left`);
          for (let i = 0; i < arg; i++) items.push(this.item(depth + 1, indefiniteDepth));
        } else {
          this.checkIndefinite(indefiniteDepth, start);
          while (!this.atBreak()) items.push(this.item(depth + 1, indefiniteDepth + 1));
        }
        return { t: "a", v: items };
      }
      case 5: {
        const pairs = [];
        const nextIndefinite = arg === null ? indefiniteDepth + 1 : indefiniteDepth;
        if (arg !== null) {
          if (typeof arg === "bigint" || arg > Math.floor(this.left() / 2)) this.fail("lengthTooLarge", start, `declared ${arg} pairs exceed the ${this.left()} byte(s) left`);
          for (let i = 0; i < arg; i++) this.pair(pairs, depth, nextIndefinite);
        } else {
          this.checkIndefinite(indefiniteDepth, start);
          while (!this.atBreak()) this.pair(pairs, depth, nextIndefinite);
        }
        return { t: "m", v: pairs };
      }
      case 6:
        if (arg === null) this.fail("indefiniteLengthNotAllowed", start, "a tag cannot have indefinite length");
        return { t: "tag", tag: arg, v: this.item(depth + 1, indefiniteDepth) };
    }
  }

  pair(pairs, depth, indefiniteDepth) {
    const keyStart = this.offset;
    const key = this.item(depth + 1, indefiniteDepth);
    if (this.o.rejectDuplicateKeys) {
      for (const p of pairs) if (cborEqual(p[0], key)) this.fail("duplicateKey", keyStart, "duplicate map key");
    }
    const value = this.item(depth + 1, indefiniteDepth);
    pairs.push([key, value]);
  }

  simpleOrFloat(info, start) {
    switch (info) {
      case 20: return { t: "bool", v: false };
      case 21: return { t: "bool", v: true };
      case 22: return { t: "null" };
      case 23: return { t: "undef" };
      case 24: {
        const v = this.byte();
        if (v < 24) this.fail("invalidSimpleValue", start, `simple value ${v} must use the one-byte form`);
        return { t: "simple", v };
      }
      case 25: {
        const r = this.take(2, start);
        return { t: "f", v: halfToNumber((r[0] << 8) | r[1]) };
      }
      case 26: {
        const r = this.take(4, start);
        return { t: "f", v: new DataView(r.buffer, r.byteOffset, 4).getFloat32(0) };
      }
      case 27: {
        const r = this.take(8, start);
        return { t: "f", v: new DataView(r.buffer, r.byteOffset, 8).getFloat64(0) };
      }
      case 31:
        this.fail("unexpectedBreak", start, "break byte outside an indefinite-length item");
      default:
        if (info < 20) return { t: "simple", v: info };
        this.fail("reservedAdditionalInfo", start, `additional information ${info} is reserved`);
    }
  }
}

/** Appends a CBOR head (shortest form) for major type `major` and argument `n` (a Number). */
export function cborHead(major, n) {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 0xff];
  if (n < 0x100000000) return [m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const hi = Math.floor(n / 0x100000000);
  return [m | 27, (hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff,
    (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
