// Fused entities on the offline map, live: a server-sent-events stream of the picture
// (/api/v1/pictures/NAME/stream) keeps a map of GeoJSON features up to date; each entity is
// drawn with a symbol for its type, its 2-sigma uncertainty ellipse and its track, and a click
// opens its provenance (frames with their boxes, models, commits).

import { api } from "./api.js";
import { $, el, highestMarking } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";

export const live = { features: new Map(), version: null, marking: "", levels: [], events: 0 };

// The higher of two markings (LEVEL[/COMPARTMENT...]): the higher level and every compartment.
export function highest(a, b) {
  return a || b ? highestMarking([a, b], live.levels) : "";
}

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// The browser's EventSource reconnects when the server ends a stream; each new stream starts
// with every entity, so the map is refreshed in full.
export function follow(name, changed) {
  const url = `/api/v1/pictures/${encodeURIComponent(name)}/stream?seconds=300`;
  const source = new EventSource(url);
  let fresh = true;
  source.addEventListener("open", () => (fresh = true));
  source.addEventListener("upsert", (ev) => {
    if (fresh) {
      live.features.clear();
      fresh = false;
    }
    const f = JSON.parse(ev.data);
    live.features.set(f.id, f);
    live.events += 1;
  });
  source.addEventListener("remove", (ev) => {
    live.features.delete(JSON.parse(ev.data).id);
    live.events += 1;
  });
  source.addEventListener("version", (ev) => {
    const info = JSON.parse(ev.data);
    if (fresh && info.entities === 0) live.features.clear();
    fresh = false;
    live.version = info.version;
    live.marking = info.marking;
    live.levels = info.levels;
    changed();
  });
  return source;
}

// MIL-STD-2525 frames for an unknown affiliation are yellow; the shape says what it is.
function symbol(f, x, y) {
  const type = f.properties.cot_type || "";
  const cls = `f-entity s-${f.properties.status}`;
  if (type.startsWith("a-u-G-U-C")) return svg("circle", { cx: x, cy: y, r: 6, class: `${cls} sym-person` });
  if (type.startsWith("a-u-G-E-V")) return svg("rect", { x: x - 7, y: y - 5, width: 14, height: 10, class: `${cls} sym-vehicle` });
  const d = 7;
  return svg("polygon", { points: `${x},${y - d} ${x + d},${y} ${x},${y + d} ${x - d},${y}`, class: `${cls} sym-other` });
}

export function entityNodes(screen, metresPerPixel, onClick) {
  const nodes = [];
  for (const f of live.features.values()) {
    const [x, y] = screen(f.geometry.coordinates);
    const g = svg("g", { class: "entity", "data-id": f.id, "data-label": f.properties.label });
    const track = f.properties.track || [];
    if (track.length > 1) {
      const pts = track.map((c) => screen(c).map((v) => v.toFixed(1)).join(",")).join(" ");
      g.append(svg("polyline", { points: pts, class: "f-entity-track" }));
    }
    const e = f.properties.ellipse;
    if (e) {
      const k = 1 / metresPerPixel(f.geometry.coordinates[1]);
      g.append(
        svg("ellipse", {
          cx: x.toFixed(1),
          cy: y.toFixed(1),
          rx: Math.max(e.semi_minor_m * k, 1).toFixed(1),
          ry: Math.max(e.semi_major_m * k, 1).toFixed(1),
          transform: `rotate(${e.orientation_deg} ${x.toFixed(1)} ${y.toFixed(1)})`,
          class: "f-ellipse",
        }),
      );
    }
    const sym = symbol(f, x, y);
    sym.addEventListener("click", () => onClick(f));
    g.append(sym);
    nodes.push(g);
  }
  return nodes;
}

function frameView(frame) {
  const fig = el("figure.entity-frame", { dataset: { item: frame.item } });
  const img = el("img", { src: frame.blob, alt: frame.name, width: 240 });
  const box = svg("svg", { class: "frame-boxes", viewBox: `0 0 ${frame.width || 1} ${frame.height || 1}`, preserveAspectRatio: "none" });
  for (const r of frame.regions) {
    if (r.kind !== "box" || !r.box) continue;
    const [bx, by, bw, bh] = r.box;
    box.append(svg("rect", { x: bx, y: by, width: bw, height: bh, class: "frame-box" }));
  }
  fig.append(el("div.frame-wrap", {}, [img, box]), el("figcaption", { text: `${frame.name} (${frame.marking || "UNCLASSIFIED"})` }));
  return fig;
}

let shown = 0; // counts the entities asked for: only the last one clicked is shown

export async function showEntity(name, f) {
  const mine = ++shown;
  const d = await api("GET", `/pictures/${encodeURIComponent(name)}/entities/${encodeURIComponent(f.id)}`);
  if (mine !== shown) return; // another entity was clicked while this one's answer came
  const p = d.feature.properties;
  const rows = [
    ["entity", f.id],
    ["marking", d.marking],
    ["type", `${p.label} (${p.cot_type})`],
    ["status", p.status],
    ["confidence", p.confidence],
    ["ce (m)", p.ce_m],
    ["speed (m/s)", p.speed_mps],
    ["course (°)", p.course_deg],
    ["last seen", p.last_seen],
    ["sensors", (p.sensors || []).join(", ")],
    ["models", d.provenance.models.join(", ") || "-"],
    ["commits", d.provenance.commits.join(", ") || "-"],
    ["eval runs", d.provenance.eval_runs.join(", ") || "-"],
    ["sources", d.provenance.sources.join(", ") || "-"],
  ];
  $("#feature").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  $("#entity-frames").replaceChildren(...d.frames.map(frameView));
}
