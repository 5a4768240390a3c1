// The project list (/): each project with its progress and links to label, review, dashboard.

import { api, currentUser } from "./api.js";
import { $, el, highestMarking, setMarking, showUser } from "./ui.js";

async function main() {
  const me = await currentUser();
  showUser(me);
  if (me.role !== "annotator") $("#explore-link").hidden = false;
  if (me.role === "manager" || me.role === "admin") $("#new-project-link").hidden = false;
  const projects = await api("GET", "/projects");
  setMarking(highestMarking(projects.map((p) => p.marking)));
  const box = $("#projects");
  if (!projects.length) {
    box.replaceChildren(el("p.muted", { text: "No project is open to you yet." }));
    return;
  }
  const canReview = me.role !== "annotator";
  const titles = new Map();
  for (const p of projects) titles.set(p.title || p.name, (titles.get(p.title || p.name) || 0) + 1);
  box.replaceChildren(
    ...projects.map((p) => {
      const title = p.title || p.name;
      // several projects may share a schema's title: then the name tells them apart
      const heading = titles.get(title) > 1 && title !== p.name ? `${title} — ${p.name}` : title;
      const hasReview = p.review && p.review !== "none";
      const pct = p.task_count ? Math.round((100 * p.done_count) / p.task_count) : 0;
      const bar = el("div.bar", { title: `${pct}% done` }, el("span"));
      bar.firstChild.style.setProperty("--pct", `${pct}%`);
      const href = (page) => `/${page}/${encodeURIComponent(p.name)}`;
      return el(
        "article.card.project",
        { dataset: { project: p.name } },
        el(
          "div.project-info",
          {},
          el("div.project-name", { text: heading }),
          el("div.muted.small", { text: `${p.name} · dataset ${p.dataset} · ${p.done_count} of ${p.task_count} tasks done${p.gold_count ? ` · ${p.gold_count} gold task(s)` : ""}` }),
          bar,
        ),
        el(
          "nav.project-links",
          {},
          el("a.primary", { href: href("label"), text: "Label" }),
          canReview && hasReview ? el("a", { href: href("review"), text: "Review" }) : null,
          canReview ? el("a", { href: href("manage"), text: "Data manager" }) : null,
          canReview ? el("a", { href: href("dashboard"), text: "Dashboard" }) : null,
        ),
      );
    }),
  );
}

main().catch((err) => {
  $("#projects").replaceChildren(el("p.error", { text: `Could not load projects: ${err.message}` }));
});
