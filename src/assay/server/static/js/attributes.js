// Declared shape attributes, as assay.domain.attributes defines them: the value a shape has
// when nobody set one, the check the server makes on submit (same rules, same words), and one
// form control per definition. The video view and the image label page both use these.

import { el } from "./ui.js";

const CHOICE = new Set(["select", "radio"]);

/** The attributes a shape of `label` has under `control`: the control's, then the label's own
 * (LabelSchema's Control.attributes_for). */
export function declaredFor(control, label) {
  if (!control) return [];
  const own = ((control.labels || []).find((l) => l.name === label) || {}).attributes || [];
  return [...(control.attributes || []), ...own];
}

/** A declared attribute's value when nobody set it (AttributeDef.initial). */
export function initialValue(def) {
  if (def.default !== undefined && def.default !== null) return def.default;
  if (def.type === "checkbox") return false;
  if (CHOICE.has(def.type)) return def.values[0];
  if (def.type === "number") return def.min ?? null;
  return "";
}

/** {name: initial value} for declared attributes (numbers without a minimum left out). */
export function initialAttributes(defs) {
  const out = {};
  for (const d of defs) {
    const v = initialValue(d);
    if (v !== null) out[d.name] = v;
  }
  return out;
}

/** Why `value` is not allowed for `def`, or null when it is (AttributeDef.problem). */
export function problem(def, value) {
  const shown = typeof value === "string" ? `'${value}'` : String(value);
  if (def.type === "checkbox") {
    return typeof value === "boolean" || value === 0 || value === 1 ? null : `${shown} is not true or false`;
  }
  if (CHOICE.has(def.type)) {
    return typeof value === "string" && def.values.includes(value) ? null : `${shown} is not one of ${def.values.join(", ")}`;
  }
  if (def.type === "number") {
    if (typeof value !== "number") return `${shown} is not a number`;
    if (!Number.isFinite(value)) return `${shown} is not a finite number`;
    if (def.min !== undefined && def.min !== null && value < def.min) return `${value} is below the minimum ${def.min}`;
    if (def.max !== undefined && def.max !== null && value > def.max) return `${value} is above the maximum ${def.max}`;
    return null;
  }
  return typeof value === "string" ? null : `${shown} is not text`;
}

/**
 * One declared attribute as a form control showing `value`.
 *
 * `onSet(v)` gets the new value: a boolean, a choice, a number (null when a number box is
 * emptied) or text. A value the server would refuse is named beside the control as it is
 * shown or set; a number box holding something that is not a number says so and sets nothing.
 */
export function attributeControl(def, value, { id, onSet, disabled = false, title = def.name, dataset = {} }) {
  const common = { id, disabled, dataset: { attr: def.name, ...dataset } };
  const note = el("span.attr-problem", { role: "alert" });
  let field; // the element marked invalid
  const flag = (issue) => {
    note.textContent = issue || "";
    note.hidden = !issue;
    if (issue) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
  };
  const set = (v) => {
    flag(v === null ? null : problem(def, v));
    onSet(v);
  };
  let wrap;
  if (def.type === "checkbox") {
    field = el("input", { ...common, type: "checkbox", checked: Boolean(value) });
    field.addEventListener("change", () => set(field.checked));
    wrap = el("label.small.attr", { title }, field, ` ${def.name}`, note);
  } else if (def.type === "radio") {
    const options = def.values.map((v, i) => {
      const r = el("input", { type: "radio", name: id, value: v, id: `${id}-${i}`, checked: v === value, disabled });
      r.addEventListener("change", () => r.checked && set(v));
      return el("label.small", {}, r, ` ${v}`);
    });
    field = wrap = el("fieldset.attr", { ...common, title }, el("legend.small", { text: def.name }), ...options, note);
  } else {
    if (def.type === "select") {
      field = el("select", common, def.values.map((v) => el("option", { value: v, text: v, selected: v === value })));
      field.addEventListener("change", () => set(field.value));
    } else if (def.type === "number") {
      const bounds = Object.fromEntries(["min", "max", "step"].filter((k) => def[k] !== undefined && def[k] !== null).map((k) => [k, String(def[k])]));
      field = el("input", { ...common, ...bounds, type: "number", value: value === null || value === undefined ? "" : String(value) });
      field.addEventListener("change", () => {
        if (field.validity.badInput) flag("not a number");
        else set(field.value === "" ? null : Number(field.value));
      });
    } else {
      field = el("input", { ...common, type: "text", value: String(value ?? "") });
      field.addEventListener("change", () => set(field.value));
    }
    wrap = el("label.small.attr", { title }, `${def.name} `, field, note);
  }
  flag(value === null || value === undefined ? null : problem(def, value));
  return wrap;
}
