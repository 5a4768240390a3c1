// The offline map (/map): scenes as Web Mercator tiles rendered by assay (/tiles/...), and the
// workspace's footprints, flight tracks and labels from /api/v1/map/layers drawn over them in
// SVG. No map library, no tile server, no fonts: everything comes from this server.

import { api, currentUser } from "./api.js";
import { entityNodes, follow, highest, live, showEntity } from "./entities.js";
import { $, el, setMarking, showUser, toast } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
const TILE = 256;
const MAX_Z = 22;
const view = { z: 2, cx: 0, cy: 0, w: 800, h: 600 }; // centre in world pixels at zoom z
let data = null;
let root;
let picture = null; // ?picture=NAME: that picture's entities, live
let pending = false;

function world(lon, lat, z) {
  const n = TILE * 2 ** z;
  const s = Math.sin((Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * n, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n];
}

function screen([lon, lat]) {
  const [x, y] = world(lon, lat, view.z);
  return [x - view.cx + view.w / 2, y - view.cy + view.h / 2];
}

function everything() {
  const pts = [];
  const add = (c) => (typeof c[0] === "number" ? pts.push(c) : c.forEach(add));
  for (const layer of ["items", "labels", "tracks"]) for (const f of data[layer].features) add(f.geometry.coordinates);
  for (const f of live.features.values()) add(f.geometry.coordinates);
  return pts;
}

function fit() {
  const pts = everything();
  if (!pts.length) return;
  const lons = pts.map((p) => p[0]);
  const lats = pts.map((p) => p[1]);
  const [w, s, e, n] = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
  let z = MAX_Z;
  for (; z > 0; z--) {
    const [x0, y0] = world(w, n, z);
    const [x1, y1] = world(e, s, z);
    if (x1 - x0 <= view.w * 0.9 && y1 - y0 <= view.h * 0.9) break;
  }
  view.z = Math.min(z, 19);
  const [x0, y0] = world(w, n, view.z);
  const [x1, y1] = world(e, s, view.z);
  view.cx = (x0 + x1) / 2;
  view.cy = (y0 + y1) / 2;
  draw();
}

function zoom(step, at = null) {
  const z = Math.max(0, Math.min(MAX_Z, view.z + step));
  if (z === view.z) return;
  const [ax, ay] = at || [view.w / 2, view.h / 2];
  const k = 2 ** (z - view.z);
  const wx = view.cx + ax - view.w / 2;
  const wy = view.cy + ay - view.h / 2;
  view.cx = wx * k - (ax - view.w / 2);
  view.cy = wy * k - (ay - view.h / 2);
  view.z = z;
  draw();
}

function drawTiles() {
  const box = $("#tiles");
  const keep = new Map([...box.children].map((img) => [img.dataset.key, img]));
  const want = new Set();
  if ($("#layer-scenes").checked) {
    for (const s of data.scenes) {
      const [w, south, e, north] = s.bounds;
      const [x0, y0] = world(w, north, view.z);
      const [x1, y1] = world(e, south, view.z);
      const left = view.cx - view.w / 2;
      const top = view.cy - view.h / 2;
      const tx0 = Math.floor(Math.max(x0, left) / TILE);
      const tx1 = Math.floor(Math.min(x1, left + view.w) / TILE);
      const ty0 = Math.floor(Math.max(y0, top) / TILE);
      const ty1 = Math.floor(Math.min(y1, top + view.h) / TILE);
      for (let tx = tx0; tx <= tx1; tx++) {
        for (let ty = ty0; ty <= ty1; ty++) {
          const key = `${s.item}/${view.z}/${tx}/${ty}`;
          want.add(key);
          let img = keep.get(key);
          if (!img) {
            img = el("img.tile", { alt: "", dataset: { key } });
            img.addEventListener("load", () => (img.dataset.loaded = "1"));
            img.addEventListener("error", () => (img.hidden = true)); // 204: the tile misses the scene
            img.src = `/tiles/${key}.png`;
            box.append(img);
          }
          img.style.left = `${tx * TILE - left}px`;
          img.style.top = `${ty * TILE - top}px`;
        }
      }
    }
  }
  for (const [key, img] of keep) if (!want.has(key)) img.remove();
}

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function pts(coords) {
  return coords.map((c) => screen(c).map((v) => v.toFixed(1)).join(",")).join(" ");
}

function shape(f, cls) {
  const g = f.geometry;
  let node;
  if (g.type === "Polygon") node = svg("polygon", { points: pts(g.coordinates[0]), class: cls });
  else if (g.type === "LineString") node = svg("polyline", { points: pts(g.coordinates), class: cls });
  else if (g.type === "Point") {
    const [x, y] = screen(g.coordinates);
    node = svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, class: `${cls} f-point` });
  } else return null;
  node.addEventListener("click", () => showFeature(f));
  return node;
}

function drawFeatures() {
  const overlay = $("#overlay");
  const nodes = [];
  const on = (id) => $(`#layer-${id}`).checked;
  for (const f of data.items.features) {
    const frame = f.properties.kind === "frame";
    if (frame ? on("frames") : on("items")) nodes.push(shape(f, frame ? "f-frame" : "f-item"));
  }
  if (on("tracks")) for (const f of data.tracks.features) nodes.push(shape(f, "f-track"));
  if (on("labels")) for (const f of data.labels.features) nodes.push(shape(f, "f-label"));
  if (picture && on("entities")) nodes.push(...entityNodes(screen, metresPerPixel, (f) => showEntity(picture, f).catch((err) => toast(String(err.message || err), "error"))));
  overlay.replaceChildren(...nodes.filter(Boolean));
}

function metresPerPixel(lat) {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / (TILE * 2 ** view.z);
}

// Many stream events arrive at once: draw once per frame.
function redrawSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    draw();
    showCounts();
  });
}

function showCounts() {
  const frames = data.items.features.filter((f) => f.properties.kind === "frame").length;
  let text = `${data.items.features.length - frames} footprints, ${frames} frames, ${data.tracks.features.length} flight tracks, ${data.labels.features.length} labels, ${data.scenes.length} scenes`;
  if (picture) text += `; picture ${picture}@${live.version ?? "?"}: ${live.features.size} entities`;
  $("#counts").textContent = text;
  setMarking(highest(data.marking, live.marking));
  $("#map").dataset.entities = String(live.features.size);
  $("#map").dataset.version = String(live.version ?? "");
}

function draw() {
  const box = $("#map").getBoundingClientRect();
  view.w = box.width;
  view.h = box.height;
  drawTiles();
  drawFeatures();
  $("#map").dataset.zoom = String(view.z);
}

function showFeature(f) {
  const rows = Object.entries(f.properties).filter(([, v]) => v !== null && v !== undefined);
  $("#feature").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) })]));
}

function bind() {
  root = $("#map");
  $("#zoom-in").addEventListener("click", () => zoom(1));
  $("#zoom-out").addEventListener("click", () => zoom(-1));
  $("#zoom-fit").addEventListener("click", fit);
  for (const id of ["scenes", "items", "frames", "tracks", "labels", "entities"]) $(`#layer-${id}`).addEventListener("change", draw);
  let drag = null;
  root.addEventListener("pointerdown", (ev) => {
    if (ev.target.closest(".map-controls")) return;
    drag = { x: ev.clientX, y: ev.clientY, cx: view.cx, cy: view.cy };
    root.classList.add("dragging");
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    view.cx = drag.cx - (ev.clientX - drag.x);
    view.cy = drag.cy - (ev.clientY - drag.y);
    draw();
  });
  window.addEventListener("pointerup", () => {
    drag = null;
    root.classList.remove("dragging");
  });
  root.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      const r = root.getBoundingClientRect();
      zoom(ev.deltaY < 0 ? 1 : -1, [ev.clientX - r.left, ev.clientY - r.top]);
    },
    { passive: false },
  );
  root.addEventListener("keydown", (ev) => {
    const step = 64;
    if (ev.key === "+" || ev.key === "=") zoom(1);
    else if (ev.key === "-") zoom(-1);
    else if (ev.key === "0") fit();
    else if (ev.key === "ArrowLeft") view.cx -= step;
    else if (ev.key === "ArrowRight") view.cx += step;
    else if (ev.key === "ArrowUp") view.cy -= step;
    else if (ev.key === "ArrowDown") view.cy += step;
    else return;
    ev.preventDefault();
    draw();
  });
  window.addEventListener("resize", draw);
}

async function main() {
  const me = await currentUser();
  showUser(me);
  const params = new URLSearchParams(location.search);
  const dataset = params.get("dataset");
  picture = params.get("picture");
  data = await api("GET", `/map/layers${dataset ? `?dataset=${encodeURIComponent(dataset)}` : ""}`);
  $("#entities-layer").hidden = !picture;
  showCounts();
  bind();
  fit();
  if (!everything().length) draw();
  if (picture) {
    let first = true;
    follow(picture, () => {
      if (first) {
        first = false;
        fit();
      }
      redrawSoon();
    });
  }
  $("#map").dataset.ready = "1";
}

main().catch((err) => toast(String(err.message || err), "error"));
