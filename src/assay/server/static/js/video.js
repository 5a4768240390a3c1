// The video task view (/video/{project}?video=ID): a video's frame tasks on a timeline, the
// current frame's telemetry and footprint, and boxes as tracks (keyframes, interpolation,
// outside ranges, attributes over time). Save stores one annotation per frame task.

import { api, currentUser, uuid } from "./api.js";
import { attributeControl, declaredFor, initialAttributes, initialValue } from "./attributes.js";
import { MiniMap } from "./minimap.js";
import { normalizeSchema } from "./schema.js";
import * as T from "./tracks.js";
import { $, el, helpOverlay, highestMarking, projectFromPath, setMarking, showUser, toast, typing } from "./ui.js";

const enc = encodeURIComponent;
const project = projectFromPath();
const HANDLE = 8; // screen pixels of the resize corner
const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

const state = { frames: [], tracks: [], index: 0, selected: null, dirty: false, edits: 0, playing: null, control: "label" };
const images = [];
let canvas;
let ctx;
let minimap;
let drag = null;
// The save on its way to the server, and whether another was asked for meanwhile: saves go one
// at a time, so the server never stores an older state after a newer one.
let saving = null;
let saveAgain = false;

async function main() {
  const me = await currentUser();
  showUser(me);
  const proj = await api("GET", `/projects/${enc(project)}`);
  $("#title").textContent = proj.schema.title || proj.name;
  const schema = normalizeSchema(proj.schema);
  const boxes = schema.controls.find((c) => c.type === "boxes");
  state.control = boxes ? boxes.name : "label";
  for (const l of boxes ? boxes.labels : []) $("#new-label").append(el("option", { value: l.name, text: l.name }));
  state.labels = boxes ? boxes.labels.map((l) => l.name) : [];
  state.boxes = boxes || null;
  let video = new URLSearchParams(location.search).get("video");
  const videos = await api("GET", `/projects/${enc(project)}/videos`);
  if (!video && videos.length) video = videos[0].video;
  const pick = el("select#video-pick", { "aria-label": "video" }, videos.map((v) => el("option", { value: v.video, text: `${v.name} (${v.frames} frames)`, selected: v.video === video })));
  pick.addEventListener("change", () => location.assign(`/video/${enc(project)}?video=${enc(pick.value)}`));
  $("#task-info").replaceChildren(pick);
  if (!video) {
    setMarking(null); // the page's own marking: the project's declared one
    $("#status").textContent = "No video frames in this project.";
    return;
  }
  state.video = video;
  const task = await api("GET", `/projects/${enc(project)}/videos/${enc(video)}`);
  state.frames = task.frames;
  state.tracks = task.tracks;
  $("#source").textContent = task.source === "prelabels" ? "(model pre-labels: correct and save)" : "";
  // the highest of every frame's and of what the project itself says (not the longest text:
  // "UNCLASSIFIED" is longer than "SECRET")
  setMarking(highestMarking(task.frames.map((f) => f.marking)));
  canvas = $("#frame");
  ctx = canvas.getContext("2d");
  minimap = new MiniMap($("#minimap"), state.frames);
  $("#scrub").max = String(state.frames.length - 1);
  await Promise.all(state.frames.map((f, i) => loadImage(f, i)));
  bind();
  go(0);
  canvas.dataset.ready = "1";
}

function loadImage(frame, i) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve();
    img.onerror = () => resolve();
    img.src = frame.media_url;
    images[i] = img;
  });
}

function bind() {
  const help = helpOverlay([
    ["Playback", [["← / ,", "previous frame"], ["→ / .", "next frame"], ["K", "next keyframe"], ["Shift+K", "previous keyframe"], ["Space", "play / pause"]]],
    ["Tracks", [["drag", "draw a new track (on empty ground), move or resize a box (sets a keyframe)"], ["M", "keyframe toggle on this frame"], ["O", "outside: the object leaves (or comes back) here"], ["I", "interpolation on/off for the track"], ["Delete", "delete the track"], ["1-9", "label of new tracks"], ["Ctrl+S", "save"], ["?", "this help"]]],
  ]);
  $("#help-btn").addEventListener("click", () => help.toggle());
  $("#prev").addEventListener("click", () => go(state.index - 1));
  $("#next").addEventListener("click", () => go(state.index + 1));
  $("#next-key").addEventListener("click", () => jumpKey(1));
  $("#play").addEventListener("click", togglePlay);
  $("#scrub").addEventListener("input", (ev) => go(Number(ev.target.value)));
  $("#save").addEventListener("click", save);
  canvas.addEventListener("mousedown", down);
  window.addEventListener("mousemove", move);
  window.addEventListener("mouseup", up);
  window.addEventListener("beforeunload", (ev) => {
    if (state.dirty) ev.preventDefault();
  });
  document.addEventListener("keydown", (ev) => {
    if (help.open) {
      help.key(ev);
      return;
    }
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s") {
      ev.preventDefault();
      save();
      return;
    }
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = selectedTrack();
    const key = ev.key;
    if (key === "ArrowLeft" || key === ",") go(state.index - 1);
    else if (key === "ArrowRight" || key === ".") go(state.index + 1);
    else if (key === "k") jumpKey(1);
    else if (key === "K") jumpKey(-1);
    else if (key === " ") togglePlay();
    else if (key === "?") help.toggle();
    else if (key === "m" && t) edit(() => T.toggleKeyframe(t, state.index, state.control));
    else if (key === "o" && t) edit(() => T.toggleOutside(t, state.index, state.control));
    else if (key === "i" && t) edit(() => (t.interpolation = t.interpolation === "none" ? "linear" : "none"));
    else if ((key === "Delete" || key === "Backspace") && t) edit(() => deleteTrack(t));
    else if (/^[1-9]$/.test(key) && state.labels[Number(key) - 1]) $("#new-label").value = state.labels[Number(key) - 1];
    else return;
    ev.preventDefault();
  });
}

function selectedTrack() {
  return state.tracks.find((t) => t.id === state.selected) || null;
}

function deleteTrack(t) {
  state.tracks = state.tracks.filter((x) => x !== t);
  state.selected = null;
}

function edit(fn) {
  fn();
  state.dirty = true;
  state.edits += 1;
  $("#status").textContent = "Unsaved changes";
  render();
}

function go(i) {
  if (!state.frames.length) return;
  state.index = Math.max(0, Math.min(state.frames.length - 1, i));
  if (state.index === state.frames.length - 1 && state.playing) togglePlay();
  render();
}

function jumpKey(step) {
  const pool = state.selected !== null && selectedTrack() ? [selectedTrack()] : state.tracks;
  const f = T.nextKeyframe(pool, state.index, step);
  if (f >= 0) go(f);
}

function togglePlay() {
  if (state.playing) {
    clearTimeout(state.playing);
    state.playing = null;
    $("#play").textContent = "▶";
    return;
  }
  if (state.index >= state.frames.length - 1) go(0);
  $("#play").textContent = "❚❚";
  const tick = () => {
    const a = state.frames[state.index].frame.time_s || 0;
    go(state.index + 1);
    const b = state.frames[state.index].frame.time_s || a + 0.5;
    if (state.playing) state.playing = setTimeout(tick, Math.min(1000, Math.max(100, (b - a) * 1000)));
  };
  state.playing = setTimeout(tick, 300);
}

// ---- drawing -------------------------------------------------------------------------------

function frameSize() {
  const f = state.frames[state.index];
  const img = images[state.index];
  return [f.width || (img && img.naturalWidth) || 640, f.height || (img && img.naturalHeight) || 480];
}

function toImage(ev) {
  const r = canvas.getBoundingClientRect();
  const [w, h] = frameSize();
  return [((ev.clientX - r.left) / r.width) * w, ((ev.clientY - r.top) / r.height) * h];
}

function shown() {
  const out = [];
  for (const t of state.tracks) {
    const at = T.boxAt(t, state.index);
    if (at) out.push({ track: t, ...at });
  }
  return out;
}

function down(ev) {
  if (ev.button !== 0) return;
  const p = toImage(ev);
  const [w] = frameSize();
  const corner = (HANDLE * w) / canvas.getBoundingClientRect().width;
  const hits = shown().filter(({ box: [x, y, bw, bh] }) => p[0] >= x && p[0] <= x + bw + corner && p[1] >= y && p[1] <= y + bh + corner);
  const hit = hits.find((h) => h.track.id === state.selected) || hits[hits.length - 1];
  if (hit) {
    state.selected = hit.track.id;
    const [x, y, bw, bh] = hit.box;
    const resize = Math.abs(p[0] - (x + bw)) <= corner && Math.abs(p[1] - (y + bh)) <= corner;
    drag = { mode: resize ? "resize" : "move", track: hit.track, start: p, box: [...hit.box], moved: false };
  } else {
    drag = { mode: "new", start: p, box: [p[0], p[1], 0, 0], moved: false };
  }
  render();
}

function move(ev) {
  if (!drag) return;
  const p = toImage(ev);
  const [dx, dy] = [p[0] - drag.start[0], p[1] - drag.start[1]];
  if (Math.abs(dx) + Math.abs(dy) > 1) drag.moved = true;
  const [x, y, w, h] = drag.box;
  if (drag.mode === "move") drag.now = [x + dx, y + dy, w, h];
  else if (drag.mode === "resize") drag.now = [x, y, Math.max(2, w + dx), Math.max(2, h + dy)];
  else drag.now = [Math.min(p[0], drag.start[0]), Math.min(p[1], drag.start[1]), Math.abs(dx), Math.abs(dy)];
  render();
}

function up() {
  if (!drag) return;
  const d = drag;
  drag = null;
  if (!d.moved || !d.now) return render();
  if (d.mode === "new") {
    if (d.now[2] < 2 || d.now[3] < 2) return render();
    const id = state.tracks.reduce((m, t) => Math.max(m, t.id + 1), 0);
    const track = { id, label: $("#new-label").value, interpolation: "linear", shapes: [] };
    edit(() => {
      T.setKeyframe(track, state.index, d.now, state.control);
      track.shapes[0].attributes = initialAttributes(attributeDefs(track.label));
      state.tracks.push(track);
      state.selected = id;
    });
  } else {
    edit(() => T.setKeyframe(d.track, state.index, d.now, state.control));
  }
}

function render() {
  const f = state.frames[state.index];
  const [w, h] = frameSize();
  const scale = Math.min(800 / w, 520 / h);
  if (canvas.width !== Math.round(w * scale)) canvas.width = Math.round(w * scale);
  if (canvas.height !== Math.round(h * scale)) canvas.height = Math.round(h * scale);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const img = images[state.index];
  if (img && img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  const boxes = [];
  for (const s of shown()) {
    const box = drag && drag.track === s.track && drag.now ? drag.now : s.box;
    boxes.push({ track: s.track.id, label: s.track.label, box, keyframe: s.keyframe, attributes: s.attributes });
    drawBox(box, s.track, s.keyframe, scale);
  }
  if (drag && drag.mode === "new" && drag.now) drawBox(drag.now, { id: -1, label: $("#new-label").value }, true, scale);
  canvas.dataset.frame = String(state.index);
  canvas.dataset.boxes = JSON.stringify(boxes);
  canvas.dataset.view = String(scale);
  $("#scrub").value = String(state.index);
  $("#frame-label").textContent = `frame ${state.index + 1} / ${state.frames.length} · t=${(f.frame.time_s ?? 0).toFixed(2)} s`;
  showTelemetry(f);
  minimap.show(state.index);
  renderTracks();
}

function drawBox([x, y, w, h], track, keyframe, scale) {
  const color = COLORS[((track.id % COLORS.length) + COLORS.length) % COLORS.length];
  ctx.lineWidth = (track.id === state.selected ? 3 : 2) / scale;
  ctx.strokeStyle = color;
  ctx.setLineDash(keyframe ? [] : [6 / scale, 4 / scale]);
  ctx.strokeRect(x, y, w, h);
  ctx.setLineDash([]);
  ctx.fillStyle = color;
  ctx.font = `${12 / scale}px sans-serif`;
  ctx.fillText(`#${track.id} ${track.label || ""}${keyframe ? " ◆" : ""}`, x + 2 / scale, y - 3 / scale);
  if (track.id === state.selected) ctx.fillRect(x + w - 4 / scale, y + h - 4 / scale, 8 / scale, 8 / scale);
}

const TELEMETRY = [
  ["time", (f) => f.captured_at || ""],
  ["video time", (f) => `${(f.frame.time_s ?? 0).toFixed(3)} s`],
  ["platform lat", (f, t) => fmt(t.sensor_latitude, 6, "°")],
  ["platform lon", (f, t) => fmt(t.sensor_longitude, 6, "°")],
  ["altitude", (f, t) => fmt(t.sensor_true_altitude, 1, " m")],
  ["heading", (f, t) => fmt(t.platform_heading, 1, "°")],
  ["pitch / roll", (f, t) => `${fmt(t.platform_pitch, 1, "°")} / ${fmt(t.platform_roll, 1, "°")}`],
  ["sensor az / el", (f, t) => `${fmt(t.sensor_relative_azimuth, 1, "°")} / ${fmt(t.sensor_relative_elevation, 1, "°")}`],
  ["sensor roll", (f, t) => fmt(t.sensor_relative_roll, 1, "°")],
  ["field of view", (f, t) => `${fmt(t.sensor_horizontal_fov, 1, "°")} × ${fmt(t.sensor_vertical_fov, 1, "°")}`],
  ["slant range", (f, t) => fmt(t.slant_range, 0, " m")],
];

function fmt(v, digits, unit) {
  return typeof v === "number" ? `${v.toFixed(digits)}${unit}` : "—";
}

function showTelemetry(f) {
  const t = f.telemetry || {};
  $("#telemetry").replaceChildren(...TELEMETRY.flatMap(([name, get]) => [el("dt", { text: name }), el("dd", { text: get(f, t), dataset: { field: name } })]));
}

function renderTracks() {
  const n = state.frames.length;
  const rows = state.tracks.map((t) => {
    const bar = el("div.track-bar", { dataset: { track: t.id }, onclick: () => select(t.id) });
    for (const [a, b] of outsideRanges(t, n)) bar.append(at(el("span.gap"), a / n, (b - a) / n));
    for (const s of t.shapes) bar.append(at(el(s.outside ? "span.tick.out" : "span.tick"), (s.frame + 0.5) / n));
    bar.append(at(el("span.playhead"), (state.index + 0.5) / n));
    return el("div.track-row", { class: t.id === state.selected ? "selected" : "" }, el("span.track-name", { text: `#${t.id}` }), bar);
  });
  $("#track-rows").replaceChildren(...rows);
  const items = state.tracks.map((t) => {
    const here = T.boxAt(t, state.index);
    const labelSel = el("select", { "aria-label": "label", dataset: { track: t.id } }, state.labels.map((l) => el("option", { value: l, text: l, selected: l === t.label })));
    labelSel.addEventListener("change", () => edit(() => (t.label = labelSel.value)));
    const interp = el("input", { type: "checkbox", id: `interp-${t.id}`, checked: t.interpolation !== "none" });
    interp.addEventListener("change", () => edit(() => (t.interpolation = interp.checked ? "linear" : "none")));
    const defs = attributeDefs(t.label);
    const declared = new Set(defs.map((d) => d.name));
    const free = Object.fromEntries(Object.entries(here ? here.attributes : {}).filter(([k]) => !declared.has(k)));
    const attrs = el("input.attrs", { value: T.formatAttributes(free), placeholder: "other=value, ...", disabled: !here, "aria-label": "other attributes from this frame on", id: `attrs-${t.id}` });
    attrs.addEventListener("change", () => {
      const kept = Object.fromEntries(Object.entries(here.attributes).filter(([k]) => declared.has(k)));
      edit(() => T.setAttributes(t, state.index, { ...kept, ...T.parseAttributes(attrs.value) }, state.control));
    });
    const controls = defs.map((d) => trackAttributeControl(t, d, here));
    return el(
      "li.track-item",
      { class: t.id === state.selected ? "selected" : "", dataset: { track: t.id } },
      el("button.link", { type: "button", text: `#${t.id}`, onclick: () => select(t.id) }),
      labelSel,
      el("label.small", {}, interp, " interpolate"),
      el("span.small.muted", { text: here ? (here.keyframe ? "keyframe" : "interpolated") : "outside" }),
      controls.length ? el("div.attr-controls", {}, ...controls) : "",
      attrs,
      el("button.small", { type: "button", text: "Key", title: "M", onclick: () => edit(() => T.toggleKeyframe(t, state.index, state.control)) }),
      el("button.small", { type: "button", text: "Outside", title: "O", onclick: () => edit(() => T.toggleOutside(t, state.index, state.control)) }),
      el("button.small", { type: "button", text: "Delete", onclick: () => edit(() => deleteTrack(t)) }),
    );
  });
  $("#tracks").replaceChildren(...items);
}

/** The attributes the schema declares for a label: its control's, then the label's own. */
function attributeDefs(label) {
  return declaredFor(state.boxes, label);
}

/** One declared attribute as a form control showing its value on this frame. A mutable
 * attribute changes from this frame on (a keyframe here holds it); a fixed one (mutable:
 * false) changes on the whole track. */
function trackAttributeControl(t, d, here) {
  const value = here && d.name in here.attributes ? here.attributes[d.name] : initialValue(d);
  const set = (v) =>
    v !== null &&
    edit(() => {
      if (d.mutable === false) T.setTrackAttribute(t, d.name, v);
      else T.setAttributes(t, state.index, { ...here.attributes, [d.name]: v }, state.control);
    });
  const title = d.mutable === false ? `${d.name} (whole track)` : `${d.name} (from this frame on)`;
  return attributeControl(d, value, { id: `attr-${t.id}-${d.name}`, onSet: set, disabled: !here, title, dataset: { track: t.id } });
}

// Positions through the CSSOM: the CSP allows no inline style attributes.
function at(node, left, width = null) {
  node.style.left = `${left * 100}%`;
  if (width !== null) node.style.width = `${width * 100}%`;
  return node;
}

function outsideRanges(t, n) {
  const out = [];
  let start = null;
  for (let i = 0; i < n; i++) {
    const vis = T.boxAt(t, i) !== null;
    if (!vis && start === null) start = i;
    if (vis && start !== null) {
      out.push([start, i]);
      start = null;
    }
  }
  if (start !== null) out.push([start, n]);
  return out;
}

function select(id) {
  state.selected = id;
  render();
}

/** Store the tracks as they are now; a save asked for while one is on its way follows it. */
function save() {
  if (!state.video) return Promise.resolve();
  if (saving) {
    saveAgain = true;
    $("#status").textContent = "Saving… (the latest changes follow)";
    return saving;
  }
  saving = (async () => {
    try {
      do {
        saveAgain = false;
        await saveOnce();
      } while (saveAgain);
    } finally {
      saving = null;
    }
  })();
  return saving;
}

async function saveOnce() {
  const body = { client_id: uuid(), tracks: structuredClone(state.tracks) };
  const edits = state.edits;
  $("#status").textContent = "Saving…";
  try {
    const r = await api("POST", `/projects/${enc(project)}/videos/${enc(state.video)}/tracks`, body);
    state.dirty = state.edits !== edits; // an edit made while saving is not saved yet
    const since = state.dirty ? " · unsaved changes since" : "";
    $("#status").textContent = `Saved ${r.tracks} tracks over ${r.frames} frames (${r.submitted} submitted, ${r.edited} edited)${since}`;
    $("#status").dataset.saved = String(Number($("#status").dataset.saved || 0) + 1);
  } catch (err) {
    $("#status").textContent = `Not saved: ${err.message}`;
    toast(err.message, "error");
  }
}

main().catch((err) => {
  $("#status").textContent = String(err.message || err);
  toast(String(err.message || err), "error");
});
