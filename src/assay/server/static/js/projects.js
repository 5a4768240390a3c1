// The project list (/): each project with its progress and links to label, review, dashboard.

import { api, currentUser } from "./api.js";
import { $, el, showUser } from "./ui.js";

async function main() {
  const me = await currentUser();
  showUser(me);
  if (me.role !== "annotator") $("#explore-link").hidden = false;
  if (me.role === "manager" || me.role === "admin") $("#new-project-link").hidden = false;
  const projects = await api("GET", "/projects");
  const box = $("#projects");
  if (!projects.length) {
    box.replaceChildren(el("p.muted", { text: "No project is open to you yet." }));
    return;
  }
  const canReview = me.role !== "annotator";
  box.replaceChildren(
    ...projects.map((p) => {
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
          el("div.project-name", { text: p.title || p.name }),
          el("div.muted.small", { text: `${p.name} · dataset ${p.dataset} · ${p.done_count} of ${p.task_count} tasks done` }),
          bar,
        ),
        el(
          "nav.project-links",
          {},
          el("a.primary", { href: href("label"), text: "Label" }),
          canReview ? el("a", { href: href("review"), text: "Review" }) : null,
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
