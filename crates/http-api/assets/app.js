"use strict";
const $ = (id) => document.getElementById(id);
const state = { cam: null, spans: [], dayStart: 0, live: null };
// Relative URLs: the page also works behind a proxy that serves it under a path prefix.
const api = (cam, what) => `api/cameras/${encodeURIComponent(cam)}/${what}`;
const iso = (ms) => new Date(ms).toISOString();
const say = (text) => { $("message").textContent = text; };

function text(v) { return v === null || v === undefined ? "" : String(v); }

async function loadCameras() {
  let list;
  try {
    const r = await fetch("api/cameras");
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    list = (await r.json()).cameras;
  } catch (e) { say(`cameras: ${e.message}`); return; }
  const body = $("cameras").tBodies[0];
  body.replaceChildren(...list.map((c) => {
    const tr = document.createElement("tr");
    tr.className = "cam" + (c.name === state.cam ? " sel" : "");
    tr.dataset.name = c.name;
    const cells = [c.name, c.state, c.since ? new Date(c.since).toLocaleString() : "",
      Number(c.video_fps || 0).toFixed(1), Math.round((c.bit_rate_bps || 0) / 1000),
      c.reconnects, c.file,
      c.first_recorded ? `${new Date(c.first_recorded).toLocaleString()} – ${c.last_recorded ? new Date(c.last_recorded).toLocaleString() : ""}` : "",
      c.last_error];
    for (const v of cells) { const td = document.createElement("td"); td.textContent = text(v); tr.append(td); }
    tr.children[1].className = `state-${text(c.state)}`;
    tr.children[6].className = "file";
    tr.addEventListener("click", () => selectCamera(c.name));
    return tr;
  }));
  if (!state.cam && list.length) selectCamera(list[0].name);
}

function localDayStart(dateValue) {
  const [y, m, d] = dateValue.split("-").map(Number);
  return new Date(y, m - 1, d).getTime();
}

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

async function selectCamera(name) {
  state.cam = name;
  $("viewer").hidden = false;
  $("cam-name").textContent = name;
  for (const tr of $("cameras").tBodies[0].rows) tr.classList.toggle("sel", tr.dataset.name === name);
  await loadDay();
}

// `quiet`: a periodic refresh, which only redraws (new spans while a camera records).
async function loadDay(quiet) {
  if (!state.cam || !$("day").value) return;
  const start = localDayStart($("day").value);
  const end = start + 86400000;
  state.dayStart = start;
  const r = await fetch(`${api(state.cam, "recordings")}?start=${iso(start)}&end=${iso(end)}`);
  if (!r.ok) { if (!quiet) say(`recordings: HTTP ${r.status}`); return; }
  if (start !== state.dayStart) return; // another day was chosen meanwhile
  state.spans = ((await r.json()).spans || []).map((s) => ({ start: Date.parse(s.start), end: Date.parse(s.end) }));
  drawTimeline();
  if (!quiet) say(state.spans.length ? `${state.spans.length} span(s) on this day` : "no recordings on this day");
}

function drawTimeline() {
  const tl = $("timeline");
  const day = 86400000;
  const pct = (ms) => `${((ms - state.dayStart) / day) * 100}%`;
  const nodes = [];
  for (const s of state.spans) {
    const a = Math.max(s.start, state.dayStart), b = Math.min(s.end, state.dayStart + day);
    const el = document.createElement("div");
    el.className = "span";
    el.style.left = pct(a);
    el.style.width = `${Math.max(((b - a) / day) * 100, 0.15)}%`;
    nodes.push(el);
  }
  for (let h = 0; h <= 24; h += 3) {
    const t = document.createElement("div");
    t.className = "tick";
    t.style.left = `${(h / 24) * 100}%`;
    t.textContent = `${String(h).padStart(2, "0")}:00`;
    if (h === 0) t.classList.add("first");
    if (h === 24) t.classList.add("last");
    nodes.push(t);
  }
  const cursor = document.createElement("div");
  cursor.className = "cursor"; cursor.id = "cursor"; cursor.hidden = true;
  nodes.push(cursor);
  tl.replaceChildren(...nodes);
}

// Plays the export from `ms` (to the end of its span, at most an hour); `slack` (ms) is
// how far a click may miss a span (a few pixels of the day's timeline).
function playFrom(ms, slack = 0) {
  stopLive();
  let span = state.spans.find((s) => ms >= s.start && ms < s.end);
  if (!span) {
    // Missed: the span within `slack`, else the next one, from its start.
    span = state.spans.find((s) => ms >= s.start - slack && ms < s.end + slack)
      || state.spans.find((s) => s.start > ms);
    if (!span) { say("nothing recorded after that instant on this day"); return; }
    ms = span.start;
  }
  const end = Math.min(span.end, ms + 3600000);
  const v = $("video");
  v.removeAttribute("src");
  v.src = `${api(state.cam, "export.mp4")}?start=${iso(ms)}&end=${iso(end)}`;
  v.dataset.start = ms;
  v.play().catch(() => {});
  $("where").textContent = `playing from ${new Date(ms).toLocaleString()}`;
  $("dl-from").value = toLocalInput(ms);
  $("dl-to").value = toLocalInput(end);
  updateDownload();
}

function updateDownload() {
  const a = Date.parse($("dl-from").value), b = Date.parse($("dl-to").value);
  const link = $("dl-link");
  if (Number.isFinite(a) && Number.isFinite(b) && b > a && state.cam) {
    link.href = `${api(state.cam, "export.mp4")}?start=${iso(a)}&end=${iso(b)}`;
    link.removeAttribute("aria-disabled");
  } else {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
  }
}

// Live view: a small player for the server's fMP4 HLS live playlist, fed to Media Source
// Extensions segment by segment (no third-party code).
function codecOf(init) {
  const u8 = new Uint8Array(init);
  const dv = new DataView(init);
  const found = [];
  const walk = (from, to, depth) => {
    for (let p = from; p + 8 <= to;) {
      let size = dv.getUint32(p);
      const type = String.fromCharCode(...u8.subarray(p + 4, p + 8));
      let head = 8;
      if (size === 1) { size = Number(dv.getBigUint64(p + 8)); head = 16; }
      if (size < head || p + size > to) break;
      if (["moov", "trak", "mdia", "minf", "stbl"].includes(type)) walk(p + head, p + size, depth + 1);
      if (type === "stsd") walk(p + head + 8, p + size, depth + 1);
      if (["avc1", "avc3"].includes(type)) {
        const c = find(p + head + 78, p + size, "avcC");
        if (c) found.push(`${type}.${[1, 2, 3].map((i) => u8[c + i].toString(16).padStart(2, "0")).join("")}`);
      }
      if (["hvc1", "hev1"].includes(type)) found.push(hevc(p + head + 78, p + size, type));
      if (type === "mp4a") found.push("mp4a.40.2");
      if (type === "fLaC") found.push("flac");
      if (type === "Opus") found.push("opus");
      p += size;
    }
  };
  const find = (from, to, want) => {
    for (let p = from; p + 8 <= to;) {
      const size = dv.getUint32(p);
      if (String.fromCharCode(...u8.subarray(p + 4, p + 8)) === want) return p + 8;
      if (size < 8) return null;
      p += size;
    }
    return null;
  };
  const hevc = (from, to, type) => {
    const c = find(from, to, "hvcC");
    if (!c) return type;
    const b1 = u8[c + 1];
    const space = ["", "A", "B", "C"][b1 >> 6];
    const tier = b1 & 0x20 ? "H" : "L";
    const profile = b1 & 0x1f;
    let compat = dv.getUint32(c + 2), rev = 0;
    for (let i = 0; i < 32; i++) { rev = (rev << 1) | (compat & 1); compat >>>= 1; }
    const level = u8[c + 12];
    const cons = [...u8.subarray(c + 6, c + 12)];
    while (cons.length && cons[cons.length - 1] === 0) cons.pop();
    const tail = cons.map((x) => "." + x.toString(16).toUpperCase()).join("");
    return `${type}.${space}${profile}.${(rev >>> 0).toString(16).toUpperCase()}.${tier}${level}${tail}`;
  };
  walk(0, u8.length, 0);
  return `video/mp4; codecs="${found.join(", ")}"`;
}

function stopLive() {
  if (state.live) { state.live.stopped = true; state.live = null; }
}

// Moves the playhead over a hole to the next buffered media: joined mid-file, the media
// starts after 0 (its decode time in the file), and the playhead would wait at 0 forever.
function skipGap(sb, v) {
  if (!sb) return;
  const b = sb.buffered;
  for (let i = 0; i < b.length; i++) {
    if (b.end(i) <= v.currentTime + 0.1) continue;
    if (b.start(i) > v.currentTime) v.currentTime = b.start(i);
    return;
  }
}

// Drops what lies more than 30 s behind the playhead.
function trim(sb, v) {
  if (sb.updating || !sb.buffered.length || v.currentTime - sb.buffered.start(0) < 40) return null;
  return [sb.buffered.start(0), v.currentTime - 30];
}

async function startLive() {
  stopLive();
  // `step`: what the player waits for (shown to tests when the view does not play).
  const live = { stopped: false, next: null, map: null, step: "start" };
  state.live = live;
  const v = $("video");
  const url = api(state.cam, "live.m3u8");
  $("where").textContent = "live";
  let ms = null, sb = null, type = null, queue = Promise.resolve();
  const op = (run) => queue = queue.then(() => new Promise((ok, bad) => {
    sb.addEventListener("updateend", ok, { once: true });
    sb.addEventListener("error", () => bad(new Error("append failed")), { once: true });
    run();
  }));
  const append = (buf) => op(() => sb.appendBuffer(buf));
  while (!live.stopped) {
    try {
      live.step = "playlist";
      const r = await fetch(url, { cache: "no-store" });
      if (live.stopped) break;
      if (!r.ok) throw new Error(`live playlist: HTTP ${r.status}`);
      const lines = (await r.text()).split("\n").map((l) => l.trim());
      let seq = Number((lines.find((l) => l.startsWith("#EXT-X-MEDIA-SEQUENCE:")) || ":0").split(":")[1]);
      let map = null;
      for (const line of lines) {
        if (line.startsWith("#EXT-X-MAP:")) map = /URI="([^"]+)"/.exec(line)[1];
        if (!line || line.startsWith("#")) continue;
        const index = seq++;
        if (live.next !== null && index < live.next) continue;
        const mapUrl = new URL(map, new URL(url, location.href)).href;
        if (live.map !== mapUrl) {
          live.step = `init ${map}`;
          const init = await (await fetch(mapUrl)).arrayBuffer();
          const next = codecOf(init);
          if (!window.MediaSource || !MediaSource.isTypeSupported(next)) throw new Error(`this browser cannot play ${next}`);
          if (live.stopped) break;
          if (!sb || (next !== type && !sb.changeType)) {
            // A new MediaSource only at the start (or for a new codec where the browser
            // cannot change it): a new file with the same codecs just brings its init.
            ms = new MediaSource();
            v.src = URL.createObjectURL(ms);
            live.step = "sourceopen";
            await new Promise((ok) => ms.addEventListener("sourceopen", ok, { once: true }));
            sb = ms.addSourceBuffer(next);
            sb.mode = "sequence";
            queue = Promise.resolve();
          } else if (next !== type) {
            await queue;
            sb.changeType(next);
          }
          type = next;
          live.step = `append init ${map}`;
          await append(init);
          live.map = mapUrl;
        }
        live.step = `segment ${line}`;
        const seg = await (await fetch(new URL(line, new URL(url, location.href)).href)).arrayBuffer();
        if (live.stopped) break;
        live.step = `append ${line}`;
        await append(seg);
        live.next = index + 1;
        skipGap(sb, v);
        const old = trim(sb, v);
        if (old) await op(() => sb.remove(old[0], old[1]));
        if (v.paused) v.play().catch(() => {});
      }
    } catch (e) { if (!live.stopped) say(e.message); }
    skipGap(sb, v);
    live.step = "waiting for the next playlist";
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

$("timeline").addEventListener("click", (ev) => {
  const rect = ev.currentTarget.getBoundingClientRect();
  const perPixel = 86400000 / rect.width;
  const ms = state.dayStart + (ev.clientX - rect.left) * perPixel;
  const c = $("cursor");
  if (c) { c.hidden = false; c.style.left = `${((ms - state.dayStart) / 86400000) * 100}%`; }
  playFrom(ms, 4 * perPixel);
});
$("play-from").addEventListener("click", () => {
  const ms = Date.parse($("dl-from").value);
  if (Number.isFinite(ms)) playFrom(ms); else say("choose an instant in From");
});
$("day").addEventListener("change", () => loadDay(false));
$("live").addEventListener("click", () => { if (state.cam) startLive(); });
$("dl-from").addEventListener("change", updateDownload);
$("dl-to").addEventListener("change", updateDownload);
$("day").value = toLocalInput(Date.now()).slice(0, 10);
loadCameras();
setInterval(loadCameras, 5000);
// The chosen day's timeline grows while its cameras record.
setInterval(() => { if (Date.now() - state.dayStart < 86400000) loadDay(true); }, 15000);
