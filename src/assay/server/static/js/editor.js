// The annotation editor: one task's regions, selection, undo history and keyboard commands.
// Views (image canvas, text view, side panel) read from it and call back into it.

import { declaredFor, initialAttributes, problem } from "./attributes.js";
import { ImageView } from "./imageview.js";
import { Panel } from "./panel.js";
import { IMAGE_TYPES, KIND, LABELLED_TYPES, candidatesOf, labelColor } from "./schema.js";
import { TextView } from "./textview.js";

const HISTORY_LIMIT = 200;

export class Editor {
  /**
   * @param {object} opts
   * @param {object} opts.schema      normalised schema (schema.js)
   * @param {HTMLElement} opts.stage  where the image or text goes
   * @param {HTMLElement} opts.side   where the controls panel goes
   * @param {() => void} [opts.onChange]
   */
  constructor({ schema, stage, side, onChange = () => {} }) {
    this.schema = schema;
    this.stage = stage;
    this.onChange = onChange;
    this.allControls = schema.controls;
    this.controls = this.allControls; // those that apply to the item on screen
    this.active = this.controls[0] || null;
    this.activeLabels = {};
    for (const c of this.allControls) if (c.labels.length) this.activeLabels[c.name] = c.labels[0].name;
    this.autoSpan = false;
    this.readonly = false;
    this.colorFn = null; // review mode colours regions by annotator
    this.regions = [];
    this.overlayList = [];
    this.selectedId = null;
    // A shape just drawn is selected (to move, resize or delete it) but not *explicitly*: a
    // label key then sets the class of the next shape. Only a click or Tab selects explicitly,
    // and only an explicit selection is relabelled by a key or a palette click.
    this.explicit = false;
    this.rankCursor = 0;
    this.view = null;
    this.panel = new Panel(side, this);
    this.seq = 0;
  }

  // --- task -----------------------------------------------------------------------------------

  /** Show an item with starting regions (model pre-labels, or an annotation being fixed). */
  async load(item, mediaUrl, regions = [], { pre = false, preSource = "model", overlays = [], readonly = false } = {}) {
    const mine = (this.loads = (this.loads || 0) + 1); // a later load wins over this one
    this.item = item;
    this.preSource = preSource; // "model" pre-labels or the dataset's labels of "record"
    this.readonly = readonly;
    this.overlayList = overlays;
    this.selectedId = null;
    this.rankCursor = 0;
    this.candidates = {};
    for (const c of this.allControls) if (c.type === "ranking") this.candidates[c.name] = candidatesOf(c, item);
    const isText = (item.media_type || "").startsWith("text/");
    this.controls = this.allControls.filter((c) => {
      if (IMAGE_TYPES.has(c.type)) return !isText;
      if (c.type === "spans") return isText;
      if (c.type === "ranking") return this.candidates[c.name].length > 0;
      return true;
    });
    if (!this.controls.includes(this.active)) this.active = this.controls[0] || null;
    // a region this schema cannot hold (e.g. a model's extra class) would make the server
    // refuse the whole submission: keep only those that fit
    const usable = regions.filter((r) => this.fits(r));
    this.regions = usable.map((r) => this.fresh({ ...r, _pre: pre || undefined }));
    for (const c of this.controls) {
      const n = (this.candidates[c.name] || []).length;
      if (c.type === "ranking" && n && !this.regions.some((r) => r.control === c.name)) {
        this.regions.push(this.fresh({ kind: "ranking", control: c.name, ranking: [...Array(n).keys()].map(String) }));
      }
    }
    this.history = [this.snapshot()];
    this.pos = 0;
    this.hasPrelabels = pre && usable.length > 0;
    this.panel.build();
    if (isText) {
      if (!(this.view instanceof TextView) || !this.view.box.isConnected) this.view = new TextView(this.stage, this);
      let text = item.text;
      if (typeof text !== "string") text = await (await fetch(mediaUrl, { credentials: "same-origin" })).text();
      if (mine !== this.loads) return; // another item is on its way: not this text over it
      this.view.load(text);
      this.setActive(this.controls.find((c) => c.type === "spans") || this.active);
    } else {
      if (!(this.view instanceof ImageView) || !this.view.canvas.isConnected) this.view = new ImageView(this.stage, this);
      this.setActive(this.controls.find((c) => IMAGE_TYPES.has(c.type)) || this.active);
      await this.view.load(mediaUrl, item.width, item.height);
      if (mine !== this.loads) return;
    }
    this.changed();
  }

  fits(r) {
    const c = this.control(r.control);
    if (!c || KIND[c.type] !== r.kind) return false;
    return !LABELLED_TYPES.has(c.type) || c.labels.some((l) => l.name === r.label);
  }

  fresh(r) {
    this.seq += 1;
    const out = { ...r, id: r.id || `r${this.seq}` };
    delete out.author;
    delete out.score;
    if (!out._pre) delete out._pre;
    return out;
  }

  /** The regions to submit: no client-side markers, no author (the server sets it). */
  output() {
    return this.regions
      .filter((r) => !(r.kind === "text" && !(r.text || "").trim()))
      .map((r) => {
        const out = {};
        for (const [k, v] of Object.entries(r)) if (!k.startsWith("_") && v !== undefined && v !== null) out[k] = v;
        return out;
      });
  }

  /** Names of the required controls (of those on screen) the current answer leaves empty. */
  missing() {
    const answered = new Set(this.output().map((r) => r.control));
    return this.controls.filter((c) => c.required && !answered.has(c.name)).map((c) => c.name);
  }

  // --- queries used by the views --------------------------------------------------------------

  imageRegions() {
    return this.regions.filter((r) => r.kind === "box" || r.kind === "polygon" || r.kind === "point");
  }

  spanRegions() {
    return this.regions.filter((r) => r.kind === "span" && Array.isArray(r.span));
  }

  overlays() {
    return this.overlayList;
  }

  control(name) {
    return this.allControls.find((c) => c.name === name);
  }

  colorOf(r) {
    if (this.colorFn) return this.colorFn(r);
    return labelColor(this.control(r.control), r.label);
  }

  selected() {
    return this.regionById(this.selectedId);
  }

  /** The selected region when the user chose it (click or Tab), else null. */
  chosen() {
    return this.explicit ? this.selected() : null;
  }

  regionById(id) {
    return id ? this.regions.find((r) => r.id === id) || null : null;
  }

  activeLabel(control = this.active) {
    return control ? this.activeLabels[control.name] : undefined;
  }

  /** The drawing tool: the active control if it draws on images, else the first that does. */
  tool() {
    const c = this.drawControl();
    return c ? c.type : null;
  }

  drawControl() {
    if (this.active && IMAGE_TYPES.has(this.active.type)) return this.active;
    return this.controls.find((c) => IMAGE_TYPES.has(c.type)) || null;
  }

  // --- edits ----------------------------------------------------------------------------------

  snapshot() {
    return JSON.stringify(this.regions);
  }

  /** Record the current state as one undo step. */
  commit() {
    const snap = this.snapshot();
    if (snap === this.history[this.pos]) return;
    this.history = this.history.slice(0, this.pos + 1);
    this.history.push(snap);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    this.pos = this.history.length - 1;
  }

  undo() {
    if (this.pos === 0) return false;
    this.pos -= 1;
    this.restore();
    return true;
  }

  redo() {
    if (this.pos >= this.history.length - 1) return false;
    this.pos += 1;
    this.restore();
    return true;
  }

  restore() {
    this.regions = JSON.parse(this.history[this.pos]);
    if (!this.regionById(this.selectedId)) this.selectedId = null;
    this.changed();
  }

  changed() {
    if (this.view) this.view.render();
    this.panel.render();
    this.onChange();
  }

  /** Add a drawn region to the drawing control, with its active label; selects it. */
  addRegion(partial) {
    const control = partial.kind === "span" ? this.controls.find((c) => c.type === "spans") : this.drawControl();
    if (!control) return null;
    const r = this.fresh(this.withDefaults({ control: control.name, label: this.activeLabel(control), ...partial }));
    this.regions.push(r);
    this.active = control;
    this.selectedId = r.id;
    this.explicit = false;
    this.commit();
    this.changed();
    return r;
  }

  patchRegion(id, patch, { commit = false } = {}) {
    this.regions = this.regions.map((r) => {
      if (r.id !== id) return r;
      const out = { ...r, ...patch };
      if (patch.label !== undefined && patch.label !== r.label) out.attributes = this.relabelled(r, patch.label);
      delete out._pre; // a corrected pre-label is the annotator's own
      return out;
    });
    if (commit) {
      this.commit();
      this.changed();
    }
  }

  removeRegion(id) {
    const before = this.regions.length;
    this.regions = this.regions.filter((r) => r.id !== id);
    if (this.selectedId === id) this.selectedId = null;
    if (this.regions.length !== before) {
      this.commit();
      this.changed();
      return true;
    }
    return false;
  }

  // Declared attributes -----------------------------------------------------------------------

  /** The attributes the schema declares for region `r` (shapes only; none elsewhere). */
  attributeDefs(r) {
    const c = this.control(r.control);
    return c && IMAGE_TYPES.has(c.type) ? declaredFor(c, r.label) : [];
  }

  /** A new shape `r` with every declared attribute it does not state set to its default. (A
   * loaded one keeps what it states: its controls show the default of an unstated attribute,
   * which is how the server reads it, and a label of record left untouched stays equal.) */
  withDefaults(r) {
    const defs = this.attributeDefs(r);
    if (!defs.length) return r;
    return { ...r, attributes: { ...initialAttributes(defs), ...(r.attributes || {}) } };
  }

  /** The attributes of `r` relabelled to `label`: values of names both labels declare stay,
   * those only the old label declared go, the new label's others start at their defaults, and
   * undeclared (free) ones stay. */
  relabelled(r, label) {
    const before = new Set(this.attributeDefs(r).map((d) => d.name));
    const after = this.attributeDefs({ ...r, label });
    const names = new Set(after.map((d) => d.name));
    const kept = Object.entries(r.attributes || {}).filter(([k]) => names.has(k) || !before.has(k));
    return { ...initialAttributes(after), ...Object.fromEntries(kept) };
  }

  /** Set (or, with null, clear) one attribute of a region, as one undo step. The panel is
   * not rebuilt: its control shows the value already, and keeps the focus (Tab moves on). */
  setAttribute(id, name, value) {
    const r = this.regionById(id);
    if (!r) return;
    const attributes = { ...(r.attributes || {}) };
    if (value === null) delete attributes[name];
    else attributes[name] = value;
    this.patchRegion(id, { attributes });
    this.commit();
    this.onChange();
  }

  /** Problems with declared attribute values the server would refuse: [{id, text}]. */
  attributeProblems() {
    const out = [];
    for (const r of this.imageRegions()) {
      const attrs = r.attributes || {};
      for (const d of this.attributeDefs(r)) {
        const why = d.name in attrs ? problem(d, attrs[d.name]) : null;
        if (why) out.push({ id: r.id, text: `${this.regionName(r)}: attribute '${d.name}': ${why}` });
      }
    }
    return out;
  }

  /** "building (label 2)": a shape's label and its place in its control's list. */
  regionName(r) {
    const n = this.regions.filter((x) => x.control === r.control).indexOf(r) + 1;
    return `${r.label || r.kind} (${r.control} ${n})`;
  }

  select(id) {
    this.selectedId = id;
    this.explicit = Boolean(id);
    const r = this.selected();
    if (r) {
      const c = this.control(r.control);
      if (c) this.active = c;
    }
    this.changed();
  }

  setActive(control) {
    if (!control) return;
    const sel = this.selected();
    if (sel && sel.control !== control.name) this.selectedId = null;
    this.active = control;
    this.changed();
  }

  /** Mouse selection in the text view: label it now if auto-label is on. */
  textSelected(span) {
    const spans = this.controls.find((c) => c.type === "spans");
    if (!spans) return;
    if (this.active !== spans) this.setActive(spans);
    if (this.autoSpan && !this.readonly) this.labelSpan(spans, this.activeLabel(spans), span);
  }

  labelSpan(control, label, span) {
    this.active = control;
    this.addRegion({ kind: "span", control: control.name, label, span, text: this.view.cover(span) });
    this.view.clearSelection();
  }

  // Whole-item answers ------------------------------------------------------------------------

  choices(control) {
    return this.regions.filter((r) => r.control === control.name && r.kind === "choice").map((r) => r.label);
  }

  toggleChoice(control, label) {
    const on = this.choices(control).includes(label);
    let rest = this.regions;
    if (!control.multiple || on) rest = rest.filter((r) => !(r.control === control.name && (!control.multiple || r.label === label)));
    this.regions = on ? rest : [...rest, this.fresh({ kind: "choice", control: control.name, label })];
    this.active = control;
    this.commit();
    this.changed();
  }

  value(control, kind) {
    return this.regions.find((r) => r.control === control.name && r.kind === kind) || null;
  }

  setWhole(control, kind, patch, { commit = true } = {}) {
    const cur = this.value(control, kind);
    if (cur) this.regions = this.regions.map((r) => (r === cur ? { ...r, ...patch, _pre: undefined } : r));
    else this.regions = [...this.regions, this.fresh({ kind, control: control.name, ...patch })];
    this.active = control;
    if (commit) {
      this.commit();
      this.changed();
    }
  }

  clearWhole(control, kind) {
    this.regions = this.regions.filter((r) => !(r.control === control.name && r.kind === kind));
    this.commit();
    this.changed();
  }

  ranking(control) {
    const r = this.value(control, "ranking");
    return r ? r.ranking : [];
  }

  /** Move the candidate at position `from` to position `to` (0-based) in the ranking. */
  moveRank(control, from, to) {
    const order = [...this.ranking(control)];
    if (from < 0 || from >= order.length || to < 0 || to >= order.length || from === to) return;
    const [x] = order.splice(from, 1);
    order.splice(to, 0, x);
    this.rankCursor = to;
    this.setWhole(control, "ranking", { ranking: order });
  }
}
