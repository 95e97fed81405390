// Trust, offline: the signed lists are fetched when there is a network, verified here against
// the pinned root, and kept in IndexedDB with their sequence numbers. A list with a lower
// sequence than the one already accepted is refused; with no network the stored lists are used.

import { verifyTrustList, verifyRevocationList, importPublicKeyText, Verifier } from "./verifier.js";
import { toHex } from "./codec.js";

const DB_NAME = "permit-verify";
const DB_VERSION = 1;
const STORE = "lists";
export const TRUST_PATH = "/v1/trust-list.cose";
export const revocationPath = (code) => `/v1/authorities/${encodeURIComponent(code)}/revocations.cose`;
export const ROOT_PLACEHOLDER = "__PERMIT_ROOT_SPKI_BASE64__";
const PINNED_ROOT = "permit-verify.pinned-root";

function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbOp(mode, fn) {
  const db = await openDB();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const dbGetAll = () => dbOp("readonly", (s) => s.getAll());
const dbPut = (value) => dbOp("readwrite", (s) => s.put(value, value.id));
const dbClear = () => dbOp("readwrite", (s) => s.clear());

/** The root key text: a pinned one from the settings, or the one the server put in the page. */
export function rootKeyText() {
  const pinned = localStorage.getItem(PINNED_ROOT);
  if (pinned) return { text: pinned, source: "pinned" };
  const meta = document.querySelector('meta[name="permit-root"]');
  const content = meta ? meta.getAttribute("content").trim() : "";
  if (!content || content === ROOT_PLACEHOLDER) return { text: null, source: "none" };
  return { text: content, source: "page" };
}

export async function pinRoot(text) {
  if (text) {
    await importPublicKeyText(text); // refuse what is not a key
    localStorage.setItem(PINNED_ROOT, text.trim());
  } else {
    localStorage.removeItem(PINNED_ROOT);
  }
}

async function fetchBytes(path) {
  // "no-cache": revalidated every time, so the server's ETag answers 304 when the list is unchanged.
  const response = await fetch(path, { cache: "no-cache" });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The checkpoint's state: the root, the verified trust list and revocation lists, where each
 * came from (network or storage), when it was fetched, and the verifier built from them.
 */
export class TrustState {
  constructor() {
    this.root = null;
    this.rootSource = "none";
    this.trust = null;
    this.revocations = new Map(); // authority → list
    this.meta = new Map(); // list id → {fetchedAt, source}
    this.notes = []; // what was refused and why
    this.verifier = null;
    this.online = null;
  }

  /** Loads the root, then the stored lists, then (when online) fresh ones. */
  async load({ network = true } = {}) {
    // Everything is read again: the stored lists, verified under the current root, then the network.
    this.notes = [];
    this.trust = null;
    this.revocations = new Map();
    this.meta = new Map();
    this.online = null;
    const { text, source } = rootKeyText();
    this.rootSource = source;
    this.root = null;
    if (text) {
      try {
        this.root = await importPublicKeyText(text);
      } catch (e) {
        this.notes.push({ code: "rootInvalid", detail: e.message });
      }
    }
    if (!this.root) {
      this.rebuild();
      return this;
    }
    const rootKid = toHex(this.root.kid);
    let stored = [];
    try {
      stored = await dbGetAll();
    } catch (e) {
      this.notes.push({ code: "storageUnavailable", detail: String(e) });
    }
    // Lists accepted under another root are not this root's.
    if (stored.some((r) => r.rootKid !== rootKid)) {
      await dbClear().catch(() => {});
      stored = [];
    }
    const trustRecord = stored.find((r) => r.id === "trust");
    if (trustRecord) {
      try {
        this.trust = await verifyTrustList(new Uint8Array(trustRecord.bytes), this.root);
        this.meta.set("trust", { fetchedAt: trustRecord.fetchedAt, source: "stored" });
      } catch (e) {
        this.notes.push({ code: "storedTrustListInvalid", detail: e.message });
      }
    }
    if (network) {
      try {
        const bytes = await fetchBytes(TRUST_PATH);
        this.online = true;
        if (bytes) await this.acceptTrustList(bytes, rootKid);
      } catch (e) {
        this.online = false;
        this.notes.push({ code: "trustListFetchFailed", detail: e.message });
      }
    }
    if (this.trust) {
      for (const r of stored.filter((r) => r.id.startsWith("rev:"))) {
        try {
          const list = await verifyRevocationList(new Uint8Array(r.bytes), this.trust, this.root);
          if (list.authority === r.id.slice(4)) {
            this.revocations.set(list.authority, list);
            this.meta.set(r.id, { fetchedAt: r.fetchedAt, source: "stored" });
          }
        } catch (e) {
          this.notes.push({ code: "storedRevocationListInvalid", detail: `${r.id.slice(4)}: ${e.message}` });
        }
      }
      if (network && this.online) {
        const authorities = [...new Set(this.trust.keys.map((k) => k.authority))];
        await Promise.all(authorities.map(async (code) => {
          try {
            const bytes = await fetchBytes(revocationPath(code));
            if (bytes) await this.acceptRevocationList(code, bytes, rootKid);
          } catch (e) {
            this.notes.push({ code: "revocationListFetchFailed", detail: `${code}: ${e.message}` });
          }
        }));
      }
    }
    this.rebuild();
    return this;
  }

  async acceptTrustList(bytes, rootKid) {
    let list;
    try {
      list = await verifyTrustList(bytes, this.root);
    } catch (e) {
      this.notes.push({ code: "trustListRefused", detail: e.message });
      return false;
    }
    if (this.trust && list.sequence < this.trust.sequence) {
      this.notes.push({ code: "trustListOlder", detail: `the server's trust list #${list.sequence} is older than the stored #${this.trust.sequence}; kept the stored one` });
      return false;
    }
    const fetchedAt = Date.now();
    this.trust = list;
    this.meta.set("trust", { fetchedAt, source: "network" });
    await dbPut({ id: "trust", bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), sequence: list.sequence, fetchedAt, rootKid }).catch(() => {});
    return true;
  }

  async acceptRevocationList(code, bytes, rootKid) {
    let list;
    try {
      list = await verifyRevocationList(bytes, this.trust, this.root);
    } catch (e) {
      this.notes.push({ code: "revocationListRefused", detail: `${code}: ${e.message}` });
      return false;
    }
    if (list.authority !== code) {
      this.notes.push({ code: "revocationListRefused", detail: `${code}: the list is authority ${list.authority}'s` });
      return false;
    }
    const old = this.revocations.get(code);
    if (old && list.sequence < old.sequence) {
      this.notes.push({ code: "revocationListOlder", detail: `${code}: the server's list #${list.sequence} is older than the stored #${old.sequence}; kept the stored one` });
      return false;
    }
    const fetchedAt = Date.now();
    this.revocations.set(code, list);
    this.meta.set(`rev:${code}`, { fetchedAt, source: "network" });
    await dbPut({ id: `rev:${code}`, bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), sequence: list.sequence, fetchedAt, rootKid }).catch(() => {});
    return true;
  }

  rebuild() {
    this.verifier = this.trust ? new Verifier(this.trust, [...this.revocations.values()]) : null;
  }

  /** A summary for the status panel and tests. */
  status() {
    const t = this.trust;
    return {
      root: this.root ? { kid: toHex(this.root.kid), alg: this.root.alg, source: this.rootSource } : null,
      online: this.online,
      trust: t ? {
        sequence: t.sequence, issuedAt: t.issuedAt, nextUpdate: t.nextUpdate, keys: t.keys.length,
        authorities: [...new Set(t.keys.map((k) => k.authority))], ...this.meta.get("trust"),
      } : null,
      revocations: [...this.revocations.values()].map((r) => ({
        authority: r.authority, sequence: r.sequence, issuedAt: r.issuedAt, nextUpdate: r.nextUpdate, entries: r.hashes.size, ...this.meta.get(`rev:${r.authority}`),
      })),
      notes: this.notes,
    };
  }
}
