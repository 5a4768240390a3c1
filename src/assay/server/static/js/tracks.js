// Tracks in the video view: keyframes, outside ranges and interpolation, as
// assay.domain.tracks computes them (the server expands tracks on save with the same rule).

/** A track: {id, label, interpolation: "linear"|"none", shapes: [{frame, box, outside, attributes, control}]} */

function sorted(track) {
  track.shapes.sort((a, b) => a.frame - b.frame);
  return track.shapes;
}

/** The track's box on `frame` ({box, keyframe, attributes}) or null when out of view. */
export function boxAt(track, frame) {
  let before = null;
  let after = null;
  for (const s of sorted(track)) {
    if (s.frame <= frame) before = s;
    else {
      after = s;
      break;
    }
  }
  if (!before || before.outside) return null;
  if (before.frame === frame) return { box: before.box, keyframe: true, attributes: before.attributes || {} };
  if (!after || after.outside || track.interpolation === "none") {
    return { box: before.box, keyframe: false, attributes: before.attributes || {} };
  }
  const t = (frame - before.frame) / (after.frame - before.frame);
  const box = before.box.map((x, i) => x + (after.box[i] - x) * t);
  return { box, keyframe: false, attributes: before.attributes || {} };
}

export function shapeOn(track, frame) {
  return track.shapes.find((s) => s.frame === frame) || null;
}

/** Set (or replace) the keyframe on `frame` with `box`, keeping the attributes in force there. */
export function setKeyframe(track, frame, box, control) {
  const now = boxAt(track, frame);
  const attributes = now ? { ...now.attributes } : {};
  const existing = shapeOn(track, frame);
  const shape = { frame, box: box.map((v) => Math.round(v)), outside: false, attributes, control };
  if (existing) Object.assign(existing, shape, { attributes: existing.outside ? attributes : existing.attributes });
  else track.shapes.push(shape);
  sorted(track);
}

/** Keyframe toggle: make the shown box a keyframe, or drop the keyframe (never the first one). */
export function toggleKeyframe(track, frame, control) {
  const existing = shapeOn(track, frame);
  if (existing) {
    const visible = track.shapes.filter((s) => !s.outside);
    if (!existing.outside && visible.length <= 1) return false;
    track.shapes = track.shapes.filter((s) => s !== existing);
    return true;
  }
  const now = boxAt(track, frame);
  if (!now) return false;
  setKeyframe(track, frame, now.box, control);
  return true;
}

/** Outside toggle: the object leaves the view from `frame` on (or comes back with its last box). */
export function toggleOutside(track, frame, control) {
  const existing = shapeOn(track, frame);
  if (existing && existing.outside) {
    track.shapes = track.shapes.filter((s) => s !== existing);
    return;
  }
  const now = boxAt(track, frame);
  if (now) {
    const shape = { frame, box: now.box.map((v) => Math.round(v)), outside: true, attributes: {}, control };
    if (existing) Object.assign(existing, shape);
    else track.shapes.push(shape);
    sorted(track);
    return;
  }
  // Out of view here: bring it back with the box it had before it left.
  const last = [...sorted(track)].reverse().find((s) => s.frame < frame && !s.outside);
  if (last) setKeyframe(track, frame, last.box, control);
}

/** Set attributes from this frame on (a keyframe holds them). */
export function setAttributes(track, frame, attributes, control) {
  if (!shapeOn(track, frame)) {
    const now = boxAt(track, frame);
    if (!now) return false;
    setKeyframe(track, frame, now.box, control);
  }
  shapeOn(track, frame).attributes = attributes;
  return true;
}

/** Set a fixed (immutable) attribute on every shape of the track. */
export function setTrackAttribute(track, name, value) {
  for (const s of track.shapes) if (!s.outside) s.attributes = { ...(s.attributes || {}), [name]: value };
}

export function keyframes(track) {
  return sorted(track).map((s) => s.frame);
}

/** The first frame after `frame` where any of `tracks` has a keyframe (or -1). */
export function nextKeyframe(tracks, frame, step = 1) {
  const frames = [...new Set(tracks.flatMap(keyframes))].sort((a, b) => a - b);
  if (step > 0) return frames.find((f) => f > frame) ?? -1;
  return [...frames].reverse().find((f) => f < frame) ?? -1;
}

/** "a=1, b=x" <-> {a: 1, b: "x"} */
export function parseAttributes(text) {
  const out = {};
  for (const part of text.split(",")) {
    const [k, ...rest] = part.split("=");
    const key = k.trim();
    if (!key) continue;
    const raw = rest.join("=").trim();
    const num = Number(raw);
    out[key] = raw === "true" ? true : raw === "false" ? false : raw !== "" && !Number.isNaN(num) ? num : raw;
  }
  return out;
}

export function formatAttributes(attrs) {
  return Object.entries(attrs || {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** "tracks #0 vehicle (keyframe), #3 boat": the tracks a frame's regions belong to, or "". */
export function trackSummary(regions) {
  const parts = (regions || [])
    .filter((r) => Number.isInteger((r.attributes || {}).track_id))
    .map((r) => `#${r.attributes.track_id} ${r.label || ""}${r.attributes.keyframe ? " (keyframe)" : ""}`.trim());
  return parts.length ? `tracks ${parts.join(", ")}` : "";
}
