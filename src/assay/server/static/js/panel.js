// The side panel: one section per schema control — label palettes with their keys, the list of
// drawn regions, choices, the ranking list (keys or drag), stars, free text.

import { attributeControl, initialValue } from "./attributes.js";
import { el } from "./ui.js";

const TYPE_TITLE = {
  boxes: "Boxes",
  polygons: "Polygons",
  points: "Points",
  spans: "Text spans",
  choices: "Choice",
  text: "Text",
  ranking: "Ranking",
  rating: "Rating",
};

export class Panel {
  constructor(root, editor) {
    this.root = root;
    this.ed = editor;
    this.textareas = {};
  }

  /** Called once per task: sections are built once so a focused text box keeps its caret. */
  build() {
    const ed = this.ed;
    this.textareas = {};
    this.sections = ed.controls.map((c) => {
      const head = el(
        "button.control-head",
        { type: "button", onclick: () => ed.setActive(c), title: "Tab / Shift+Tab switch controls" },
        el("span.control-name", { text: c.name }),
        c.required ? el("span.required", { text: "required", title: "an answer is needed before submitting" }) : null,
        el("span.control-type", { text: TYPE_TITLE[c.type] || c.type }),
      );
      const body = el("div.control-body");
      if (c.type === "text") body.append(this.textBox(c));
      const section = el("section.control", { dataset: { control: c.name, type: c.type } }, head, body);
      return { c, section, body };
    });
    this.root.replaceChildren(...this.sections.map((x) => x.section));
  }

  textBox(c) {
    const ta = el("textarea.free-text", { rows: 3, "aria-label": c.name, placeholder: "Type here; Esc leaves the box" });
    let timer = null;
    ta.addEventListener("input", () => {
      this.ed.setWhole(c, "text", { text: ta.value }, { commit: false });
      clearTimeout(timer);
      timer = setTimeout(() => this.ed.commit(), 700);
    });
    ta.addEventListener("change", () => this.ed.commit());
    ta.addEventListener("focus", () => {
      this.ed.active = c;
      this.render();
    });
    ta.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") ta.blur();
    });
    this.textareas[c.name] = ta;
    return ta;
  }

  render() {
    for (const { c, section, body } of this.sections || []) {
      if (this.ed.active === c) section.setAttribute("aria-current", "true");
      else section.removeAttribute("aria-current");
      if (c.type === "text") this.freeText(c);
      else body.replaceChildren(...[this.body(c)].flat().filter(Boolean));
    }
  }

  body(c) {
    switch (c.type) {
      case "boxes":
      case "polygons":
      case "points":
      case "spans":
        return [this.palette(c), c.type === "spans" ? this.autoToggle() : null, this.regionList(c), this.attributeBox(c)];
      case "choices":
        return this.choiceList(c);
      case "ranking":
        return this.rankList(c);
      case "rating":
        return this.stars(c);
      default:
        return el("p.muted", { text: `unsupported control type ${c.type}` });
    }
  }

  palette(c) {
    const active = this.ed.activeLabel(c);
    return el(
      "div.palette",
      { role: "radiogroup", "aria-label": `${c.name} labels` },
      c.labels.map((l) =>
        el(
          "button.label-chip",
          {
            type: "button",
            role: "radio",
            "aria-checked": String(l.name === active),
            dataset: { label: l.name },
            disabled: this.ed.readonly,
            onclick: () => {
              const sel = this.ed.chosen();
              this.ed.activeLabels[c.name] = l.name;
              if (sel && sel.control === c.name) this.ed.patchRegion(sel.id, { label: l.name }, { commit: true });
              else this.ed.setActive(c);
            },
          },
          swatch(l.color),
          keyChip(l.key),
          el("span", { text: l.name }),
        ),
      ),
    );
  }

  autoToggle() {
    const box = el("input", { type: "checkbox", checked: this.ed.autoSpan, onchange: (ev) => {
      this.ed.autoSpan = ev.target.checked;
      this.ed.changed();
    } });
    return el("label.auto-toggle", {}, box, " auto-label selections ", el("kbd", { text: "A" }));
  }

  regionList(c) {
    const ed = this.ed;
    const rows = ed.regions.filter((r) => r.control === c.name);
    if (!rows.length) return el("p.muted.small", { text: ed.readonly ? "none" : hint(c.type) });
    return el(
      "ol.region-list",
      {},
      rows.map((r) =>
        el(
          "li",
          {
            dataset: { id: r.id },
            "aria-selected": String(r.id === ed.selectedId),
            class: r._pre ? "pre" : null,
            onclick: () => ed.select(r.id),
          },
          swatch(ed.colorOf(r), r._pre),
          el("span.region-label", { text: r.label || "—" }),
          el("span.region-geom", { text: describe(r) }),
          r._pre ? preBadge(ed.preSource) : null,
          ed.readonly
            ? null
            : el("button.icon", {
                type: "button",
                title: "Delete (Del)",
                "aria-label": "delete",
                text: "×",
                onclick: (ev) => {
                  ev.stopPropagation();
                  ed.removeRegion(r.id);
                },
              }),
        ),
      ),
    );
  }

  /** The selected shape's declared attributes, one control each (under the list, so a click
   * on a control does not select the row again). */
  attributeBox(c) {
    const ed = this.ed;
    const r = ed.selected();
    if (!r || r.control !== c.name) return null;
    const defs = ed.attributeDefs(r);
    if (!defs.length) return null;
    const attrs = r.attributes || {};
    const controls = defs.map((d) => {
      const onSet = (v) => ed.setAttribute(r.id, d.name, v);
      const value = d.name in attrs ? attrs[d.name] : initialValue(d);
      return attributeControl(d, value, { id: `attr-${d.name}`, onSet, disabled: ed.readonly });
    });
    return el(
      "div.region-attrs",
      { dataset: { region: r.id }, role: "group", "aria-label": `attributes of ${ed.regionName(r)}` },
      el("p.small.muted", { text: `Attributes of ${ed.regionName(r)}` }),
      ...controls,
    );
  }

  choiceList(c) {
    const chosen = this.ed.choices(c);
    return el(
      "div.palette",
      {},
      c.labels.map((l) =>
        el(
          "button.label-chip",
          {
            type: "button",
            role: c.multiple ? "checkbox" : "radio",
            "aria-checked": String(chosen.includes(l.name)),
            dataset: { label: l.name },
            disabled: this.ed.readonly,
            onclick: () => this.ed.toggleChoice(c, l.name),
          },
          swatch(l.color),
          keyChip(l.key),
          el("span", { text: l.name }),
        ),
      ),
    );
  }

  rankList(c) {
    const ed = this.ed;
    const order = ed.ranking(c);
    const cands = ed.candidates[c.name] || [];
    if (!order.length) return el("p.muted.small", { text: "no candidate responses on this item" });
    let dragFrom = null;
    const list = el(
      "ol.rank-list",
      { "aria-label": "ranked responses, best first" },
      order.map((idx, pos) =>
        el(
          "li.rank-item",
          {
            draggable: ed.readonly ? null : "true",
            dataset: { index: idx, pos },
            "aria-selected": String(ed.active === c && pos === ed.rankCursor),
            onclick: () => {
              ed.rankCursor = pos;
              ed.setActive(c);
            },
            ondragstart: (ev) => {
              dragFrom = pos;
              ev.dataTransfer.effectAllowed = "move";
              ev.dataTransfer.setData("text/plain", String(pos));
            },
            ondragover: (ev) => {
              ev.preventDefault();
              ev.currentTarget.classList.add("drop");
            },
            ondragleave: (ev) => ev.currentTarget.classList.remove("drop"),
            ondrop: (ev) => {
              ev.preventDefault();
              const from = dragFrom ?? Number(ev.dataTransfer.getData("text/plain"));
              ed.moveRank(c, from, pos);
            },
          },
          el("span.rank-pos", { text: pos + 1 }),
          el("span.rank-id", { text: letter(Number(idx)) }),
          el("span.rank-text", { text: cands[Number(idx)] ?? `candidate ${idx}` }),
        ),
      ),
    );
    return [list, el("p.muted.small", { text: "↑↓ choose · Alt+↑↓ or 1–9 move · drag" })];
  }

  stars(c) {
    const max = c.max || 5;
    const cur = this.ed.value(c, "rating");
    const v = cur ? cur.value : 0;
    return el(
      "div.stars",
      { role: "radiogroup", "aria-label": c.name },
      [...Array(max).keys()].map((i) =>
        el("button.star", {
          type: "button",
          role: "radio",
          "aria-checked": String(i + 1 === v),
          "aria-label": `${i + 1} of ${max}`,
          title: `key ${i + 1}`,
          class: i < v ? "on" : null,
          disabled: this.ed.readonly,
          text: "★",
          onclick: () =>
            i + 1 === v ? this.ed.clearWhole(c, "rating") : this.ed.setWhole(c, "rating", { value: i + 1 }),
        }),
      ),
      el("span.rating-value", { text: v ? `${v}/${max}` : "not rated" }),
    );
  }

  freeText(c) {
    const ta = this.textareas[c.name];
    const cur = this.ed.value(c, "text");
    if (document.activeElement !== ta) ta.value = cur ? cur.text || "" : "";
    ta.disabled = this.ed.readonly;
  }
}

function preBadge(source) {
  return source === "record"
    ? el("span.badge", { text: "record", title: "the dataset's current label: keep, correct or delete it" })
    : el("span.badge", { text: "model", title: "model pre-label: correct or delete it" });
}

/** A label's key as printed on a keyboard: letters in capitals, so `l` never reads as `1`. */
function keyChip(key) {
  if (!key) return null;
  const shown = String(key).toUpperCase();
  return el("kbd", { text: shown, title: `key ${shown}`, dataset: { key: String(key) } });
}

function swatch(color, dashed = false) {
  const s = el("span.swatch", { class: dashed ? "dashed" : null });
  s.style.setProperty("--swatch", color);
  return s;
}

function letter(i) {
  return i < 26 ? String.fromCharCode(65 + i) : `#${i + 1}`;
}

function hint(type) {
  return {
    boxes: "Drag on the image to draw a box.",
    polygons: "Click points; Enter or double-click closes.",
    points: "Click on the image to place a point.",
    spans: "Select text, then press a label key.",
  }[type];
}

function describe(r) {
  const f = (v) => Math.round(v);
  if (r.box) return `${f(r.box[0])},${f(r.box[1])} ${f(r.box[2])}×${f(r.box[3])}`;
  if (r.kind === "polygon" && r.points) return `${r.points.length} points`;
  if (r.kind === "point" && r.points) return `${f(r.points[0][0])},${f(r.points[0][1])}`;
  if (r.span) return `“${(r.text || "").slice(0, 30)}” ${r.span[0]}–${r.span[1]}`;
  return "";
}
