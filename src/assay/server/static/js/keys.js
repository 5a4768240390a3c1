// Keyboard commands of the editor. editorKey(editor, ev) returns true when it used the key.

import { IMAGE_TYPES, LABELLED_TYPES } from "./schema.js";
import { ImageView } from "./imageview.js";
import { TextView } from "./textview.js";

export const EDITOR_HELP = [
  ["Draw and edit", [
    ["drag", "draw a box (boxes control)"],
    ["click / Enter / double-click", "add polygon points / close the polygon"],
    ["click", "place a point (points control)"],
    ["drag shape / handle", "move / resize the selected shape"],
    ["Alt+drag / Alt+click", "draw over an existing shape"],
    ["Delete / Backspace", "delete the selected shape or span"],
    ["← ↑ → ↓", "nudge the selected shape (Shift: 10 px)"],
    ["Esc", "cancel the polygon, clear the selection"],
    ["Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y", "undo / redo / redo"],
  ]],
  ["Labels", [
    ["1 … 9, letters", "the label keys shown in the panel: set the class of the NEXT shape you draw (right after drawing too), label the selected text, pick a choice, set a rating, move the ranked response to that place"],
    ["click a shape, then a key", "relabel that shape (a key relabels only a shape selected by click or Tab)"],
    ["Tab / Shift+Tab", "select the next / previous shape of the drawing control (to relabel it), then the next / previous control"],
    ["click a shape", "its declared attributes show under the shape list (Tab between fields, Esc leaves one)"],
    ["A", "auto-label text selections with the active label"],
    ["↑ ↓", "choose a response (ranking)"],
    ["Alt+↑ / Alt+↓", "move the response up / down"],
  ]],
  ["View", [
    ["wheel / + / -", "zoom in and out"],
    ["F", "fit the image"],
    ["Space+drag / middle drag", "pan"],
  ]],
];

export function editorKey(ed, ev) {
  if (!ed.item) return false;
  const key = ev.key;
  const ctrl = ev.ctrlKey || ev.metaKey;
  const view = ed.view;
  if (ctrl && !ev.altKey) {
    const k = key.toLowerCase();
    if (k === "z") return (ev.shiftKey ? ed.redo() : ed.undo()) || true;
    if (k === "y") return ed.redo() || true;
    return false;
  }
  if (key === "Escape") {
    if (view instanceof ImageView && view.cancelDraft()) return true;
    if (view instanceof TextView && view.selectionOffsets()) {
      view.clearSelection();
      return true;
    }
    if (ed.selectedId) {
      ed.select(null);
      return true;
    }
    return false;
  }
  if (key === "Enter" && view instanceof ImageView && view.draft) {
    view.closePolygon(false);
    return true;
  }
  if (key === "Tab") {
    if (tabShape(ed, ev.shiftKey ? -1 : 1)) return true;
    const i = ed.controls.indexOf(ed.active);
    const n = ed.controls.length;
    if (!n) return false;
    ed.selectedId = null;
    ed.explicit = false;
    ed.setActive(ed.controls[(i + (ev.shiftKey ? n - 1 : 1)) % n]);
    return true;
  }
  if (ed.readonly) return false;
  if ((key === "Delete" || key === "Backspace") && ed.selectedId) return ed.removeRegion(ed.selectedId);
  if (key.startsWith("Arrow")) return arrow(ed, ev);
  // the schema's label keys (digits, then letters) win over the letter shortcuts below
  if (key.length === 1 && key !== " " && !ev.altKey && labelKey(ed, key.toLowerCase())) return true;
  if (view instanceof ImageView) {
    if (key === "+" || key === "=") return view.zoom(1.25), true;
    if (key === "-" || key === "_") return view.zoom(0.8), true;
    if (key === "f" || key === "F") return view.fit(), true;
    if (key === " ") {
      view.spaceDown = true;
      view.canvas.style.cursor = "grab";
      return true;
    }
  }
  if ((key === "a" || key === "A") && ed.controls.some((c) => c.type === "spans")) {
    ed.autoSpan = !ed.autoSpan;
    ed.changed();
    return true;
  }
  return false;
}

/** Key releases matter only for space (pan mode). */
export function editorKeyUp(ed, ev) {
  if (ev.key === " " && ed.view instanceof ImageView) {
    ed.view.spaceDown = false;
    ed.view.canvas.style.cursor = "crosshair";
  }
}

/** Tab through the shapes of the active drawing control; false once past the last (or first). */
function tabShape(ed, step) {
  if (!(ed.view instanceof ImageView) || !ed.active || !IMAGE_TYPES.has(ed.active.type)) return false;
  const ids = ed.regions.filter((r) => r.control === ed.active.name).map((r) => r.id);
  if (!ids.length) return false;
  const at = ids.indexOf(ed.selectedId);
  // a shape just drawn is selected implicitly: the first Tab makes that selection explicit
  const next = at < 0 ? (step > 0 ? 0 : ids.length - 1) : ed.explicit ? at + step : at;
  if (next < 0 || next >= ids.length) return false;
  ed.select(ids[next]);
  return true;
}

function arrow(ed, ev) {
  const up = ev.key === "ArrowUp";
  const down = ev.key === "ArrowDown";
  if (ed.active && ed.active.type === "ranking" && (up || down)) {
    const n = ed.ranking(ed.active).length;
    if (!n) return false;
    const to = Math.min(Math.max(ed.rankCursor + (up ? -1 : 1), 0), n - 1);
    if (ev.altKey) ed.moveRank(ed.active, ed.rankCursor, to);
    else {
      ed.rankCursor = to;
      ed.changed();
    }
    return true;
  }
  const r = ed.selected();
  if (!r || !IMAGE_TYPES.has((ed.control(r.control) || {}).type)) return false;
  const step = ev.shiftKey ? 10 : 1;
  const dx = ev.key === "ArrowLeft" ? -step : ev.key === "ArrowRight" ? step : 0;
  const dy = up ? -step : down ? step : 0;
  if (r.box) ed.patchRegion(r.id, { box: [r.box[0] + dx, r.box[1] + dy, r.box[2], r.box[3]] }, { commit: true });
  else if (r.points) ed.patchRegion(r.id, { points: r.points.map(([x, y]) => [x + dx, y + dy]) }, { commit: true });
  return true;
}

function accepts(ed, c, key) {
  if (LABELLED_TYPES.has(c.type)) return c.labels.some((l) => keyOf(l) === key);
  if (!/^[1-9]$/.test(key)) return false;
  const n = Number(key);
  if (c.type === "ranking") return n <= ed.ranking(c).length;
  if (c.type === "rating") return n <= (c.max || 5);
  return false;
}

function keyOf(label) {
  return label.key ? String(label.key).toLowerCase() : null;
}

/** Which control a number key goes to: the selection's, then the active one, then the first. */
function target(ed, key) {
  const sel = ed.chosen();
  const selControl = sel && ed.control(sel.control);
  if (selControl && accepts(ed, selControl, key)) return selControl;
  if (ed.view instanceof TextView && ed.view.selectionOffsets()) {
    const spans = ed.controls.find((c) => c.type === "spans" && accepts(ed, c, key));
    if (spans) return spans;
  }
  if (ed.active && accepts(ed, ed.active, key)) return ed.active;
  return ed.controls.find((c) => accepts(ed, c, key)) || null;
}

function labelKey(ed, key) {
  const c = target(ed, key);
  if (!c) return false;
  if (c.type === "ranking") {
    ed.moveRank(c, ed.rankCursor, Number(key) - 1);
    return true;
  }
  if (c.type === "rating") {
    ed.setWhole(c, "rating", { value: Number(key) });
    return true;
  }
  const label = c.labels.find((l) => keyOf(l) === key).name;
  if (c.type === "choices") {
    ed.toggleChoice(c, label);
    return true;
  }
  if (c.type === "spans" && ed.view instanceof TextView) {
    const off = ed.view.selectionOffsets();
    if (off) {
      ed.activeLabels[c.name] = label;
      ed.labelSpan(c, label, off);
      return true;
    }
  }
  const sel = ed.chosen();
  ed.activeLabels[c.name] = label;
  if (sel && sel.control === c.name) ed.patchRegion(sel.id, { label }, { commit: true });
  else ed.setActive(c);
  return true;
}
