// The text view: labelled spans highlighted in the text; select with the mouse, then press a
// label's number key (or let auto-label use the active label). Offsets are [start, end) in
// Unicode code points, as Python counts them, not JavaScript's UTF-16 units.

export class TextView {
  constructor(container, editor) {
    this.editor = editor;
    this.box = document.createElement("div");
    this.box.className = "text-view";
    this.box.tabIndex = 0;
    this.box.setAttribute("aria-label", "text; select a passage, then press a label key");
    container.replaceChildren(this.box);
    this.text = "";
    this.cps = [];
    this.box.addEventListener("mouseup", () => setTimeout(() => this.selected(), 0));
    this.box.addEventListener("click", (ev) => {
      const mark = ev.target.closest("mark[data-ids]");
      if (mark && window.getSelection().isCollapsed) {
        const ids = mark.dataset.ids.split(" ");
        this.editor.select(ids[ids.length - 1]);
      }
    });
  }

  load(text) {
    this.text = text || "";
    this.cps = Array.from(this.text);
    this.rendered = null;
    this.render();
  }

  render() {
    const spans = this.editor.spanRegions();
    // re-rendering would drop the user's mouse selection: only do it when the marks change
    const key = JSON.stringify([this.text.length, spans, this.editor.selectedId, this.editor.overlays().length]);
    if (key === this.rendered) return;
    this.rendered = key;
    const cuts = new Set([0, this.cps.length]);
    for (const r of spans) {
      cuts.add(clampInt(r.span[0], 0, this.cps.length));
      cuts.add(clampInt(r.span[1], 0, this.cps.length));
    }
    const bounds = [...cuts].sort((a, b) => a - b);
    const frag = document.createDocumentFragment();
    const selected = this.editor.selectedId;
    for (let i = 0; i + 1 < bounds.length; i++) {
      const [s, e] = [bounds[i], bounds[i + 1]];
      const piece = this.cps.slice(s, e).join("");
      const covering = spans.filter((r) => r.span[0] <= s && r.span[1] >= e && r.span[0] < r.span[1]);
      for (const o of this.editor.overlays()) {
        if (o.region.kind === "span" && o.region.span[0] <= s && o.region.span[1] >= e) covering.push({ ...o.region, _color: o.color, _overlay: true });
      }
      if (!covering.length) {
        frag.append(piece);
        continue;
      }
      const top = covering[covering.length - 1];
      const color = top._color || this.editor.colorOf(top);
      const mark = document.createElement("mark");
      mark.textContent = piece;
      mark.style.setProperty("--span-color", color);
      mark.dataset.ids = covering.filter((r) => !r._overlay).map((r) => r.id).join(" ");
      mark.dataset.label = covering.map((r) => r.label).join(", ");
      mark.title = covering.map((r) => `${r.label}${r._pre ? " (model)" : ""}`).join(", ");
      if (covering.length > 1) mark.classList.add("multi");
      if (covering.some((r) => r._pre)) mark.classList.add("pre");
      if (covering.some((r) => r.id === selected)) mark.classList.add("selected");
      if (!mark.dataset.ids) mark.removeAttribute("data-ids");
      frag.append(mark);
    }
    this.box.replaceChildren(frag);
  }

  /** The current mouse selection as [start, end) code-point offsets (trimmed), or null. */
  selectionOffsets() {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return null;
    const range = sel.getRangeAt(0);
    if (!this.box.contains(range.startContainer) || !this.box.contains(range.endContainer)) return null;
    let s = this.cpOffset(range.startContainer, range.startOffset);
    let e = this.cpOffset(range.endContainer, range.endOffset);
    if (s > e) [s, e] = [e, s];
    while (s < e && /\s/u.test(this.cps[s])) s += 1;
    while (e > s && /\s/u.test(this.cps[e - 1])) e -= 1;
    return e > s ? [s, e] : null;
  }

  clearSelection() {
    const sel = window.getSelection();
    if (sel) sel.removeAllRanges();
  }

  cover(span) {
    return this.cps.slice(span[0], span[1]).join("");
  }

  /** Code-point offset of a DOM (node, offset) position inside the view. */
  cpOffset(node, offset) {
    let units = 0;
    if (node.nodeType !== Node.TEXT_NODE) {
      // a position between child nodes: count the text before that child
      const before = document.createRange();
      before.setStart(this.box, 0);
      before.setEnd(node, offset);
      units = before.toString().length;
    } else {
      const walker = document.createTreeWalker(this.box, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n && n !== node; n = walker.nextNode()) units += n.data.length;
      units += offset;
    }
    return Array.from(this.text.slice(0, units)).length;
  }

  selected() {
    const off = this.selectionOffsets();
    if (off) this.editor.textSelected(off);
  }
}

function clampInt(v, lo, hi) {
  return Math.min(Math.max(Math.trunc(v), lo), hi);
}
