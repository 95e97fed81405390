// The checkpoint page: scanner field, camera, photo upload, the verdict, the lists' status, and
// a small API on window.permitVerifier for tests and benchmarks.

import { TrustState, pinRoot, rootKeyText } from "./store.js";
import { parseRFC3339, rfc3339, DEFAULT_SKEW } from "./verifier.js";
import { STRINGS, REASONS, WARNINGS, NOTES, PLATE_COLORS, ROLES, TRIPS, DEPARTMENTS, CARGO, codeName } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const LANG_KEY = "permit-verify.lang";

let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
let fixedNow = null; // seconds since 1970, or null for the system clock
const state = new TrustState();
let lastResults = null;
let cameraStream = null;

const now = () => (fixedNow !== null ? fixedNow : Date.now() / 1000);
const t = () => STRINGS[lang];
const pick = (pair) => pair[lang === "zh" ? 0 : 1];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function age(seconds) {
  const d = t().duration;
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s}${d.s}`;
  if (s < 90 * 60) return `${Math.round(s / 60)}${d.m}`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)}${d.h}`;
  return `${Math.round(s / 86400)}${d.d}`;
}

/** Local (China Standard Time) minutes, for the status lines. */
function cst(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return new Date((Math.floor(seconds) + 8 * 3600) * 1000).toISOString().slice(0, 16).replace("T", " ");
}

// ---------- texts of the page ----------

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) {
    const v = t()[node.dataset.t];
    if (typeof v === "string") node.textContent = v;
  }
  for (const node of document.querySelectorAll("[data-ph]")) node.placeholder = t()[node.dataset.ph];
  $("camera").textContent = cameraStream ? t().cameraStop : t().camera;
  renderStatus();
  if (lastResults) renderResults(lastResults);
  else renderIdle();
}

// ---------- verdict ----------

function renderIdle() {
  lastResults = null;
  const v = $("verdict");
  v.className = "verdict idle";
  v.replaceChildren(el("div", { class: "verdict-word" }, t().idle), el("div", { class: "verdict-reason" }, t().idleHint));
  $("details").replaceChildren();
  $("warnings").replaceChildren();
}

function renderChecking() {
  const v = $("verdict");
  v.className = "verdict idle";
  v.removeAttribute("data-outcome");
  v.removeAttribute("data-reason");
  v.replaceChildren(el("div", { class: "verdict-word" }, t().checking));
}

function renderResults(results) {
  lastResults = results;
  const [first, ...rest] = results;
  renderVerdict(first);
  const extra = $("more");
  extra.replaceChildren();
  if (rest.length) {
    extra.append(el("p", { class: "more-title" }, t().more(rest.length)));
    for (const r of rest) {
      const ok = r.outcome === "valid";
      extra.append(el("div", { class: `mini ${ok ? "pass" : "refuse"}` },
        `${ok ? "✅ " + t().pass : "❌ " + t().refuse}${r.reason ? "：" + pick(REASONS[r.reason] || [r.reason, r.reason]) : ""}${r.number ? " · " + r.number : ""}`));
    }
  }
}

/** One result, shaped like a `permit verify --json` line. Claims are shown only when present,
 *  which the verifier allows only after the signature has verified. */
function renderVerdict(r) {
  const ok = r.outcome === "valid";
  const v = $("verdict");
  v.className = `verdict ${ok ? "pass" : "refuse"}`;
  v.setAttribute("data-outcome", r.outcome);
  v.setAttribute("data-reason", r.reason || "");
  v.replaceChildren(
    el("div", { class: "verdict-icon", "aria-hidden": "true" }, ok ? "✓" : "✕"),
    el("div", { class: "verdict-word" }, ok ? t().pass : t().refuse),
    el("div", { class: "verdict-reason" }, r.reason ? pick(REASONS[r.reason] || [r.reason, r.reason]) : t().passReason),
  );

  const w = $("warnings");
  w.replaceChildren(...(r.warnings || []).map((x) =>
    el("div", { class: "warning", "data-code": x.code }, "⚠ " + pick(WARNINGS[x.code] || [x.code, x.code]))));

  const rows = [];
  const row = (label, ...value) => rows.push(el("dt", {}, label), el("dd", {}, ...value));
  const p = r.permit;
  if (p) {
    row(t().number, el("span", { class: "mono big" }, p.number));
    row(t().vehicle, el("span", { class: "plate" }, p.vehicle.plate), " ", codeName(PLATE_COLORS, p.vehicle.plateColor, lang));
    if (r.validity) row(t().validity, t().validityRange(r.validity.from, r.validity.until));
    row(t().crew, ...p.crew.map((c) => el("div", { class: "crew" },
      el("strong", {}, c.name), ` ${codeName(ROLES, c.role, lang)}`,
      el("div", { class: "crew-ids" }, `${c.maskedDocument} · ${c.maskedPhone}`))));
    const cats = p.cargo.categories.map((c) => codeName(CARGO, c, lang)).join(lang === "zh" ? "、" : ", ");
    row(t().cargo, `${cats} · ${p.cargo.description}${p.cargo.weightKg !== undefined ? " · " + t().weight(p.cargo.weightKg) : ""}`);
    const placeText = (pl) => `${pl.county}${pl.address ? " " + pl.address : ""}`;
    row(t().route, t().routeText(placeText(p.origin), placeText(p.destination)) + (p.via && p.via.length ? ` (via ${p.via.join(", ")})` : ""));
    row(t().trips, codeName(TRIPS, p.trips, lang));
    row(t().approvedBy, p.approvedBy.map((d) => codeName(DEPARTMENTS, d, lang)).join(lang === "zh" ? "、" : ", "));
    row(t().applicant, `${p.applicant.name} · ${p.applicant.creditCode}`);
    if (p.conditions && p.conditions.length) row(t().conditions, p.conditions.join("；"));
  }
  if (r.issuer) {
    row(t().issuer, lang === "zh" ? r.issuer.name : r.issuer.nameEn);
    row(t().phone, el("a", { href: `tel:${r.issuer.phone}`, class: "phone" }, r.issuer.phone));
  }
  $("details").replaceChildren(...(rows.length ? [el("dl", {}, rows)] : []));
}

// ---------- status of the lists ----------

function renderStatus() {
  const s = state.status();
  const box = $("status");
  const lines = [];
  const stale = [];
  const n = now();
  if (!s.root) {
    lines.push(el("p", { class: "status-bad" }, t().noRoot));
  } else if (!s.trust) {
    lines.push(el("p", { class: "status-bad" }, t().noTrust));
  } else {
    const tr = s.trust;
    if (n > tr.nextUpdate) stale.push("trust");
    lines.push(el("p", { class: n > tr.nextUpdate ? "status-stale" : "" },
      el("strong", {}, t().trustLine(tr.sequence, tr.keys, tr.authorities.length)), " · ",
      tr.fetchedAt ? t().fetched(age(n - tr.fetchedAt / 1000)) + " · " : "",
      t().issued(cst(tr.issuedAt)), " · ", t().nextUpdate(cst(tr.nextUpdate))));
    if (!s.revocations.length) lines.push(el("p", {}, t().noRevocations));
    for (const r of s.revocations) {
      if (n > r.nextUpdate) stale.push(r.authority);
      lines.push(el("p", { class: n > r.nextUpdate ? "status-stale" : "" },
        t().revLine(r.authority, r.sequence, r.entries), " · ",
        r.fetchedAt ? t().fetched(age(n - r.fetchedAt / 1000)) + " · " : "",
        t().nextUpdate(cst(r.nextUpdate))));
    }
    lines.push(el("p", { class: "muted" }, t().rootFrom(s.root.kid, s.root.source)));
  }
  for (const note of s.notes) {
    // Fetch failures are what being offline looks like; the online badge says it already.
    if (note.code.endsWith("FetchFailed") && s.trust) continue;
    lines.push(el("p", { class: "status-note", title: note.detail }, "⚠ " + pick(NOTES[note.code] || [note.code, note.code])));
  }
  const online = navigator.onLine && s.online !== false;
  $("net").textContent = online ? t().online : t().offline;
  $("net").className = online ? "net on" : "net off";
  if (!online && s.trust) lines.unshift(el("p", { class: "muted" }, t().fromStore));
  box.replaceChildren(...lines);
  const banner = $("stale");
  banner.hidden = stale.length === 0;
  const fetched = s.trust && s.trust.fetchedAt ? t().fetched(age(n - s.trust.fetchedAt / 1000)) : "";
  banner.textContent = "⚠ " + t().staleBanner(fetched);
}

// ---------- input: scanner field, camera, photo ----------

async function verifyText(text, plate) {
  if (!state.verifier) {
    const r = { outcome: "error", reason: null, detail: state.trust ? "" : "no trust list", warnings: [] };
    return r;
  }
  return state.verifier.verify(text, { now: now(), skew: DEFAULT_SKEW, plate: plate || null });
}

async function checkScanned(text) {
  const clean = text.replace(/[\r\n]+$/g, "").replace(/^[\r\n]+/g, "");
  if (!clean) return;
  renderChecking();
  const result = await verifyText(clean, $("plate").value.trim());
  if (result.outcome === "error" && !result.reason) {
    renderIdle();
    $("verdict").querySelector(".verdict-reason").textContent = state.root ? t().noTrust : t().noRoot;
    return;
  }
  renderResults([result]);
}

async function uploadPhoto(file) {
  if (!navigator.onLine) {
    showNote(t().photoOffline);
    return;
  }
  const type = file.type === "image/png" || file.type === "image/jpeg" ? file.type
    : /\.png$/i.test(file.name) ? "image/png" : "image/jpeg";
  renderChecking();
  try {
    const response = await fetch("/v1/verify", { method: "POST", headers: { "Content-Type": type }, body: file });
    const body = await response.text();
    const results = parseVerdicts(body);
    if (!results.length) throw new Error(`HTTP ${response.status}`);
    renderResults(results);
  } catch (e) {
    renderIdle();
    showNote(`${t().photoFailed}: ${e.message}`);
  }
}

/** Verdict objects from a JSON array, one JSON object, or JSON Lines. */
function parseVerdicts(body) {
  const text = body.trim();
  if (!text) return [];
  try {
    const v = JSON.parse(text);
    const list = Array.isArray(v) ? v : [v];
    return list.filter((x) => x && typeof x.outcome === "string");
  } catch {
    return text.split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l)).filter((x) => x && typeof x.outcome === "string");
  }
}

function showNote(message) {
  const n = $("note");
  n.textContent = message;
  n.hidden = false;
  setTimeout(() => { n.hidden = true; }, 6000);
}

async function setupCamera() {
  const button = $("camera");
  let supported = false;
  try {
    supported = "BarcodeDetector" in window && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)
      && (await window.BarcodeDetector.getSupportedFormats()).includes("qr_code");
  } catch {
    supported = false;
  }
  button.hidden = !supported;
  if (!supported) return;
  button.addEventListener("click", () => (cameraStream ? stopCamera() : startCamera()));
  // The camera is never left on behind another app or page.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && (cameraStream || button.disabled)) stopCamera();
  });
  window.addEventListener("pagehide", () => stopCamera());
}

/** Bumped by every start and stop: a start or a reading loop whose session is over ends. */
let cameraSession = 0;

async function startCamera() {
  const button = $("camera");
  const video = $("video");
  const session = ++cameraSession;
  // One stream at a time: taps while the camera opens are ignored (a second getUserMedia would
  // leave the first stream running with nothing to stop it).
  button.disabled = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (e) {
    showNote(String(e.message || e));
    return;
  } finally {
    button.disabled = false;
  }
  if (session !== cameraSession) {
    // stopped while the camera opened (the page was hidden)
    for (const track of stream.getTracks()) track.stop();
    return;
  }
  cameraStream = stream;
  video.srcObject = stream;
  video.hidden = false;
  button.textContent = t().cameraStop;
  try {
    await video.play();
  } catch (e) {
    if (session === cameraSession) {
      stopCamera();
      showNote(String(e.message || e));
    }
    return;
  }
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const tick = async () => {
    if (session !== cameraSession) return;
    let codes = [];
    try {
      codes = await detector.detect(video);
    } catch { /* a frame that could not be read */ }
    if (session !== cameraSession) return; // stopped while this frame was read
    if (codes.length) {
      const text = codes[0].rawValue;
      stopCamera();
      // Verified as a scanned text is, without leaving it in the scanner field, so that the next
      // scan does not run into it.
      await checkScanned(text);
      return;
    }
    setTimeout(tick, 150);
  };
  tick();
}

/** Stops the camera: every track of the stream ended, the video emptied and hidden. */
function stopCamera() {
  cameraSession++;
  if (cameraStream) for (const track of cameraStream.getTracks()) track.stop();
  cameraStream = null;
  const video = $("video");
  video.pause();
  video.srcObject = null;
  video.hidden = true;
  $("camera").textContent = t().camera;
  $("scan").focus();
}

// ---------- start ----------

let loading = Promise.resolve();

/** Loads the lists; loads run one after another, never interleaved. */
function loadLists(network = true) {
  loading = loading.catch(() => {}).then(async () => {
    await state.load({ network: network && navigator.onLine });
    renderStatus();
  });
  return loading;
}

function wire() {
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    applyLanguage();
    $("scan").focus();
  });
  $("scan").addEventListener("keydown", async (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    e.preventDefault();
    // Emptied at once, so that the next scan does not run into this one.
    const field = $("scan");
    const text = field.value;
    field.value = "";
    await checkScanned(text);
    field.focus();
  });
  $("check").addEventListener("click", async () => {
    await checkScanned($("scan").value);
    $("scan").value = "";
    $("scan").focus();
  });
  $("photo").addEventListener("change", async (e) => {
    const file = e.target.files && e.target.files[0];
    if (file) await uploadPhoto(file);
    e.target.value = "";
    $("scan").focus();
  });
  $("refresh").addEventListener("click", async () => {
    await loadLists(true);
  });
  $("pin-save").addEventListener("click", async () => {
    try {
      await pinRoot($("pin").value.trim());
      await loadLists(true);
    } catch (e) {
      showNote(e.message);
    }
  });
  $("pin-clear").addEventListener("click", async () => {
    await pinRoot(null);
    $("pin").value = "";
    await loadLists(true);
  });
  window.addEventListener("online", () => loadLists(true));
  window.addEventListener("offline", () => renderStatus());
  // Keep the scanner field focused: a handheld scanner types wherever the focus is.
  document.addEventListener("click", (e) => {
    if (!e.target.closest("input, textarea, button, label, summary, a, select")) $("scan").focus();
  });
  setInterval(renderStatus, 60_000);
}

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return false;
  await navigator.serviceWorker.register("sw.js", { scope: "./" });
  await navigator.serviceWorker.ready;
  const page = new URL("./", location.href).href;
  for (let i = 0; i < 100; i++) {
    if (await caches.match(page)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const ready = (async () => {
  wire();
  applyLanguage();
  const pinned = rootKeyText();
  if (pinned.source === "pinned") $("pin").value = pinned.text;
  await setupCamera();
  await loadLists(true);
  $("scan").focus();
  return state.status();
})();

const swReady = ready.then(() => registerServiceWorker()).catch(() => false);

const toSeconds = (v) => (v === undefined || v === null ? null : typeof v === "number" ? v : parseRFC3339(v));

/** For tests and benchmarks: the same pipeline the page uses, with an injectable clock and plate. */
window.permitVerifier = {
  ready,
  swReady,
  status: () => state.status(),
  reload: (network = true) => loadLists(network).then(() => state.status()),
  /** Fixes the page's clock (RFC 3339 or seconds); null returns to the system clock. */
  setNow(v) {
    fixedNow = toSeconds(v);
    renderStatus();
    return fixedNow === null ? null : rfc3339(fixedNow);
  },
  async verify(text, { now: at = null, plate = null, skew = DEFAULT_SKEW } = {}) {
    if (!state.verifier) throw new Error("no verified trust list");
    const n = toSeconds(at);
    return state.verifier.verify(text, { now: n === null ? now() : n, plate, skew });
  },
  /** Verifies [{text, at, plate}] in order; each result as the CLI's JSON line without index. */
  async verifyBatch(cases) {
    const out = [];
    for (const c of cases) out.push(await this.verify(c.text, { now: c.at, plate: c.plate ?? null }));
    return out;
  },
  /** Milliseconds per payload, one at a time, each timed alone. */
  async bench(texts, at) {
    const n = toSeconds(at);
    const times = [];
    const start = performance.now();
    for (const text of texts) {
      const t0 = performance.now();
      await state.verifier.verify(text, { now: n });
      times.push(performance.now() - t0);
    }
    const mean = (performance.now() - start) / texts.length;
    times.sort((a, b) => a - b);
    return { count: times.length, median: times[Math.floor(times.length / 2)], p90: times[Math.floor(times.length * 0.9)], min: times[0], mean };
  },
  /** Pins a root (base64 SPKI or PEM), or returns to the page's root with null; reloads the lists. */
  async pinRoot(text) {
    await pinRoot(text);
    $("pin").value = text || "";
    await loadLists(true);
    return state.status();
  },
  /** Shows a result as the page would (for screenshots and tests). */
  show(results) {
    renderResults(Array.isArray(results) ? results : [results]);
  },
  /** The results the page shows now (as verify() returns them), or null when it shows none. */
  shown() {
    return lastResults;
  },
  lang(v) {
    lang = v === "en" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    applyLanguage();
  },
};
