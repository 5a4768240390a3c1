// The label schema as the UI uses it: controls with keys and colours filled in.

export const PALETTE = [
  "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
  "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3",
];

/** Control type -> the Region kind it produces. */
export const KIND = {
  boxes: "box",
  polygons: "polygon",
  points: "point",
  spans: "span",
  choices: "choice",
  text: "text",
  ranking: "ranking",
  rating: "rating",
};

export const IMAGE_TYPES = new Set(["boxes", "polygons", "points"]);
export const LABELLED_TYPES = new Set(["boxes", "polygons", "points", "spans", "choices"]);

/** Normalise the schema JSON: every label gets {name, key, color}; plain names get free keys. */
export function normalizeSchema(schema) {
  const controls = (schema.controls || []).map((c, ci) => {
    const raw = (c.labels || []).map((l) => (typeof l === "string" ? { name: l } : { ...l }));
    const used = new Set(raw.map((l) => l.key).filter(Boolean).map(String));
    let next = 1;
    // an automatic colour never repeats a colour of the same control, chosen or automatic
    const taken = new Set(raw.map((l) => l.color).filter(Boolean).map((x) => String(x).toLowerCase()));
    let hue = ci * 3;
    const autoColor = () => {
      for (let n = 0; n < PALETTE.length; n += 1, hue += 1) {
        const cand = PALETTE[hue % PALETTE.length];
        if (!taken.has(cand)) {
          taken.add(cand);
          hue += 1;
          return cand;
        }
      }
      return PALETTE[hue++ % PALETTE.length]; // more labels than colours: repeats are unavoidable
    };
    const labels = raw.map((l) => {
      let key = l.key ? String(l.key) : null;
      if (!key) {
        while (next <= 9 && used.has(String(next))) next += 1;
        if (next <= 9) {
          key = String(next);
          used.add(key);
        }
      }
      const color = l.color || autoColor();
      return { ...l, key, color };
    });
    return { ...c, labels, kind: KIND[c.type] || c.type, index: ci };
  });
  return { ...schema, controls };
}

/** The labels' colour by name within a control (grey for an unknown label). */
export function labelColor(control, name) {
  const l = control && control.labels.find((x) => x.name === name);
  return l ? l.color : "#9aa0a6";
}

/** Candidate responses of a ranking control, looked up in the item metadata. */
export function candidatesOf(control, item) {
  const field = control.candidates_field || "responses";
  const meta = item.metadata || {};
  const value = meta[field] ?? (meta.fields || {})[field] ?? item[field];
  if (Array.isArray(value)) return value.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  return [];
}
