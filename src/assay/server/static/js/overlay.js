// Images with label overlays (boxes, polygons, points) drawn as SVG in image pixel space,
// shared by the data manager and the explorer.

import { el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

/** Colours of the diff's change kinds (the legend uses the same, from app.css). */
export const CHANGE_COLORS = {
  added: "#2e7d32",
  removed: "#c62828",
  relabeled: "#ef6c00",
  moved: "#1565c0",
  attribute_changed: "#6a1b9a",
  changed: "#6a1b9a",
  same: "#9aa3ad",
};

const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990", "#9a6324"];

/** A stable colour per class name. */
export function colorFor(name) {
  let h = 2166136261; // FNV-1a: near names still land far apart
  for (const ch of String(name || "")) h = Math.imul(h ^ ch.codePointAt(0), 16777619) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function node(tag, attrs = {}, ...children) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) n.setAttribute(k, String(v));
  for (const c of children) n.append(c);
  return n;
}

/** An SVG drawing `regions` over an image of width × height (same fit as the <img>). */
export function overlay(width, height, regions, { color = (r) => colorFor(r.label), dashed = () => false } = {}) {
  const w = width || 100;
  const h = height || 100;
  const svg = node("svg", { class: "overlay", viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "xMidYMid meet", "aria-hidden": "true" });
  for (const r of regions || []) {
    const stroke = color(r);
    const common = { stroke, fill: "none", "stroke-width": 2, "vector-effect": "non-scaling-stroke", "data-label": r.label || "" };
    if (dashed(r)) common["stroke-dasharray"] = "4 3";
    let shape = null;
    if (r.kind === "box" && r.box) {
      const [x, y, bw, bh] = r.box;
      shape = node("rect", { ...common, x, y, width: bw, height: bh, class: "ov-box" });
    } else if (r.kind === "polygon" && r.points) {
      shape = node("polygon", { ...common, points: r.points.map((p) => p.join(",")).join(" "), class: "ov-polygon" });
    } else if (r.kind === "point" && r.points && r.points[0]) {
      const [x, y] = r.points[0];
      shape = node("circle", { ...common, cx: x, cy: y, r: Math.max(w, h) / 80, fill: stroke, class: "ov-point" });
    }
    if (shape) {
      shape.append(node("title", {}, `${r.label || ""}${r.author ? ` · ${r.author}` : ""}`));
      svg.append(shape);
    }
  }
  return svg;
}

/** An image (thumbnail or full) with its overlay, in a box of the caller's size. */
export function figure(src, width, height, regions, opts = {}) {
  const img = el("img", { src, alt: opts.alt || "", loading: opts.lazy ? "lazy" : null, decoding: "async" });
  const choices = (regions || []).filter((r) => r.kind === "choice" && r.label).map((r) => r.label);
  return el(
    "div.figure",
    { class: opts.class || null },
    img,
    overlay(width, height, regions, opts),
    choices.length ? el("span.figure-tags", { text: choices.join(", ") }) : null,
  );
}
