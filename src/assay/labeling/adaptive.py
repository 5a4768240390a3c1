"""Adaptive overlap in the queue: another label only where the answer is still unsure.

A project with `Workflow.adaptive = TARGET` starts every task at `adaptive_min` labels. After
each submission that completes a task's current target, the answers to the schema's first
single-answer choices control are combined with the one-coin model of
`assay.quality.one_coin_posterior` (annotator w is right with probability s_w, wrong answers
spread evenly over the other labels, uniform prior). If the leading answer's posterior is
below TARGET and the task has fewer than `overlap` labels, its target grows by one and the
task goes back into the queue. Each annotator's s_w is their gold accuracy smoothed toward
the default 0.7 (a Beta prior worth two gold tasks), so the hot path fits no model.
"""

from __future__ import annotations

import math

from assay.domain.labels import payload_from_json
from assay.labeling._tx import Tx
from assay.labeling.projects import Project
from assay.labeling.queue import TaskRow

DEFAULT_SKILL = 0.7
PRIOR_WEIGHT = 2.0

_ANSWERS = (
    "SELECT n.payload, s.gold_seen, s.gold_score FROM assignments a "
    "JOIN annotations n ON n.id = a.annotation_id "
    "LEFT JOIN annotator_stats s ON s.project_id = a.project_id AND s.user_id = a.user_id "
    "WHERE a.task_id = :t AND a.state = 'submitted'"
)
_RAISE = (
    "UPDATE tasks SET target = :target, open = CASE WHEN active < :target THEN 1 ELSE 0 END "
    "WHERE id = :t"
)


def skill(gold_seen: int | None, gold_score: float | None) -> float:
    """Gold accuracy smoothed toward DEFAULT_SKILL, clipped away from 0 and 1."""
    seen, score = gold_seen or 0, gold_score or 0.0
    value = (score + PRIOR_WEIGHT * DEFAULT_SKILL) / (seen + PRIOR_WEIGHT)
    return min(max(value, 1e-6), 1 - 1e-6)


def leading_posterior(answers: list[str | None], skills: list[float], labels: list[str]) -> float:
    """Posterior of the most likely label under the one-coin model (None = no answer)."""
    k = len(labels)
    log_post = dict.fromkeys(labels, 0.0)
    for answer, s in zip(answers, skills, strict=True):
        if answer not in log_post:
            continue
        right, wrong = math.log(s), math.log((1 - s) / (k - 1))
        for label in labels:
            log_post[label] += right if label == answer else wrong
    top = max(log_post.values())
    total = sum(math.exp(v - top) for v in log_post.values())
    return 1.0 / total


def after_submit(tx: Tx, p: Project, task: TaskRow) -> TaskRow:
    """Raise the task's target by one when its answers are not yet sure enough."""
    wf = p.workflow
    n = task.done + 1
    target = task.target or wf.overlap
    control = p.schema.first_choices()
    if wf.adaptive is None or control is None or n < target or n >= wf.overlap:
        return task
    labels = [lab.name for lab in control.labels]
    answers: list[str | None] = []
    skills: list[float] = []
    for payload, seen, score in tx.all(_ANSWERS, {"t": task.id}):
        chosen = [r.label for r in payload_from_json(payload) if r.control == control.name]
        answers.append(chosen[0] if chosen else None)
        skills.append(skill(seen, score))
    if leading_posterior(answers, skills, labels) >= wf.adaptive:
        return task
    tx.run(_RAISE, {"t": task.id, "target": n + 1})
    return task._replace(target=n + 1)
