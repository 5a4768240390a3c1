// Small DOM helpers shared by the pages: element builder, marking banners, toasts, dialogs.

import { logout } from "./api.js";

/** el("div.a.b", {title: "x", onclick: f}, child, "text", ...) */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k === "class") node.classList.add(...String(v).split(" ").filter(Boolean));
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

/** The workspace's marking levels, lowest first (the page carries them: pages.py). */
export function markingLevels() {
  const raw = document.body.dataset.markingLevels;
  return raw ? JSON.parse(raw) : [];
}

/** The marking of everything in `markings` (LEVEL[/COMPARTMENT...] texts): the highest level
 * and every compartment; the lowest level when none is given (a page listing nothing marked).
 * `levels`: the scheme's levels, lowest first. */
export function highestMarking(markings, levels = markingLevels()) {
  const parts = markings.filter(Boolean).map((m) => m.toUpperCase().split("/"));
  if (!parts.length) return levels[0] || "";
  const rank = (p) => levels.indexOf(p[0]);
  const top = parts.reduce((x, y) => (rank(y) > rank(x) ? y : x));
  const comps = [...new Set(parts.flatMap((p) => p.slice(1)))].sort();
  return [top[0], ...comps].join("/");
}

/** Show `marking` in every .marking-banner (top and bottom), never less than the page's own
 * marking (`data-page-marking`, which the server renders in them: the project's declared
 * marking on a project's pages, as its title is on them; else the lowest level). null (nothing
 * marked on the page: a project without tasks, an empty queue) shows that marking, as
 * `highestMarking` gives for a page listing nothing marked: a page never goes without its
 * banner. The banner's colour follows its level (`data-level`, app.css). */
export function setMarking(marking) {
  const text = highestMarking([marking, document.body.dataset.pageMarking]);
  for (const b of document.querySelectorAll(".marking-banner")) {
    b.textContent = text;
    b.hidden = !text;
    b.dataset.level = text.toUpperCase().split("/")[0];
  }
}

/** The header's count of answers not yet stored: `pending`, `failed` and the last `error` of
 * an Outbox's state. */
export function showOutbox({ pending, failed, error }) {
  const box = $("#pending");
  const parts = [];
  if (pending) parts.push(`${pending} pending`);
  if (failed) parts.push(`${failed} failed`);
  box.textContent = parts.join(" · ");
  box.title = error ? `not sent yet: ${error}` : failed ? "refused by the server; kept in this browser" : "";
  box.dataset.pending = String(pending);
  box.hidden = !parts.length;
  box.classList.toggle("bad", Boolean(failed));
}

let toastTimer = null;

export function toast(message, kind = "info") {
  let box = $("#toast");
  if (!box) {
    box = el("div", { id: "toast", role: "status" });
    document.body.append(box);
  }
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), kind === "error" ? 6000 : 2500);
}

/** The header's user box: name, role and a log-out button. */
export function showUser(me) {
  const box = $("#user");
  if (!box) return;
  box.replaceChildren(
    el("span.user-name", { text: me.name }),
    el("span.user-role", { text: me.role }),
    el("button.link", { type: "button", onclick: () => logout(), text: "Log out" }),
  );
}

/**
 * A small modal prompt; resolves to the entered text, or null when cancelled (Escape).
 * `choices` are quick answers selectable by number key.
 */
export function prompt(title, { choices = [], placeholder = "", required = false } = {}) {
  return new Promise((resolve) => {
    const input = el("input.prompt-input", { type: "text", placeholder, "aria-label": title });
    const list = el(
      "ol.prompt-choices",
      {},
      choices.map((c, i) =>
        el("li", {}, el("button", { type: "button", onclick: () => done(c) }, el("kbd", { text: i + 1 }), ` ${c}`)),
      ),
    );
    const form = el(
      "form.prompt",
      { role: "dialog", "aria-modal": "true", "aria-label": title },
      el("h2", { text: title }),
      choices.length ? list : null,
      input,
      el(
        "div.prompt-actions",
        {},
        el("button.secondary", { type: "button", onclick: () => done(null), text: "Cancel (Esc)" }),
        el("button.primary", { type: "submit", text: "OK (Enter)" }),
      ),
    );
    const backdrop = el("div.backdrop", {}, form);
    function done(value) {
      backdrop.remove();
      document.removeEventListener("keydown", onKey, true);
      resolve(value);
    }
    function onKey(ev) {
      if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        done(null);
      } else if (!input.value && /^[1-9]$/.test(ev.key) && choices[Number(ev.key) - 1]) {
        ev.preventDefault();
        ev.stopPropagation();
        done(choices[Number(ev.key) - 1]);
      } else {
        ev.stopPropagation();
      }
    }
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (required && !v) {
        input.focus();
        return;
      }
      done(v);
    });
    document.addEventListener("keydown", onKey, true);
    document.body.append(backdrop);
    input.focus();
  });
}

/** The ? overlay: `groups` is [[title, [[keys, description], ...]], ...]. */
export function helpOverlay(groups) {
  const box = el(
    "div.help",
    { role: "dialog", "aria-label": "Keyboard shortcuts" },
    el("h2", { text: "Keyboard shortcuts" }),
    el(
      "div.help-groups",
      {},
      groups.map(([title, rows]) =>
        el(
          "section",
          {},
          el("h3", { text: title }),
          el(
            "dl",
            {},
            rows.flatMap(([keys, what]) => [
              el("dt", {}, keys.split(" / ").map((k, i) => [i ? " / " : "", el("kbd", { text: k })])),
              el("dd", { text: what }),
            ]),
          ),
        ),
      ),
    ),
    el("p.help-foot", { text: "Press ? or Esc to close." }),
  );
  const overlay = el("div.backdrop.help-backdrop", { hidden: true }, box);
  overlay.addEventListener("click", (ev) => {
    if (ev.target === overlay) overlay.hidden = true;
  });
  document.body.append(overlay);
  const close = () => (overlay.hidden = true);
  return {
    toggle: () => (overlay.hidden = !overlay.hidden),
    close,
    get open() {
      return !overlay.hidden;
    },
    /** A key pressed while the help is open: ? and Esc close it, the arrows, Page Up/Down,
     * Space, Home and End scroll a list longer than the screen; no key reaches the page. */
    key(ev) {
      ev.preventDefault();
      const page = box.clientHeight * 0.9;
      const by = { ArrowDown: 40, ArrowUp: -40, PageDown: page, " ": page, PageUp: -page }[ev.key];
      if (ev.key === "?" || ev.key === "Escape") close();
      else if (by) box.scrollBy(0, ev.shiftKey && ev.key === " " ? -by : by);
      else if (ev.key === "Home") box.scrollTop = 0;
      else if (ev.key === "End") box.scrollTop = box.scrollHeight;
    },
  };
}

/** The page's project: from the server-rendered body, else from a path like /label/{project}. */
export function projectFromPath() {
  if (document.body.dataset.project) return document.body.dataset.project;
  const parts = location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[1] || "");
}

/** True when the key event happens while typing in a form field. */
export function typing(ev) {
  const t = ev.target;
  return (
    t instanceof HTMLElement &&
    (t.isContentEditable || t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "checkbox" && t.type !== "radio") || t.tagName === "SELECT")
  );
}

/** A project's display title; with the name beside it when they differ (titles may repeat). */
export function titleOf(proj) {
  const title = proj.title || (proj.schema && proj.schema.title) || proj.name;
  return title === proj.name ? title : `${title} (${proj.name})`;
}
