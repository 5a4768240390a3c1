"""Model stages: candidate -> staging -> production, each step earned by a paired gate.

`promote` moves a version to ``staging`` or ``production`` only on evidence: a recorded
evaluation run of that version on a dataset commit and, when another version of the name is
in production, a run of that production version on the same commit whose paired gate (see
`assay.evaluation.runs.gate`) the candidate passes. Without a production version the
candidate's recorded run suffices. A language model's evidence is its language-model runs
(`assay eval llm TASK --model NAME@VERSION`), paired on the same commit and the same task
file, and gated on the task's first scorer; other models' evidence is `assay eval run`.
`force` with a `reason` skips the evidence; the reason goes to the audit trail and the
promotion record. Promoting to production moves the version that held it to ``archived``.

Example:
    >>> # promote(ws, "flood-clf@2", "production", max_drop=0.02).gate["passed"]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.labels import canonical_json
from assay.errors import Conflict, InvalidInput
from assay.models.registry import ModelInfo, get_model
from assay.store.schema import eval_runs, model_promotions, models_table
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.workspace import Workspace

Stage = Literal["staging", "production"]
STAGES: tuple[str, ...] = ("candidate", "staging", "production", "archived")


@dataclass(frozen=True)
class Promotion:
    """One promotion as recorded: the evidence (runs and gate) or the forcing reason."""

    model: str  # NAME@VERSION
    stage: str
    previous: str
    run: str | None
    baseline: str | None  # NAME@VERSION of the production version compared with
    baseline_run: str | None
    gate: dict[str, Any] | None
    forced: bool
    reason: str | None
    actor: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for listings: how the stage was earned."""
        if self.forced:
            return f"forced: {self.reason}"
        if self.gate is None:
            return f"run {str(self.run)[:12]} (no production version to compare)"
        verdict = "passed" if self.gate["passed"] else "failed"
        # The slices it measured not (a gate stored before a kind existed lacks its key).
        kinds = ("empty", "undefined", "not_compared")
        unmeasured = [f"{s} ({k.replace('_', ' ')})" for k in kinds for s in self.gate.get(k, [])]
        also = f"; not measured: {', '.join(unmeasured)}" if unmeasured else ""
        return f"gate {verdict} vs {self.baseline} ({self.gate['metric']}{also})"


@dataclass(frozen=True)
class _Run:
    id: str
    commit_id: str
    dataset: str
    task: str
    pair_key: str  # runs pair when their keys match: the commit (and an LLM run's task file)


def _runs(conn: Connection, model_id: str, llm: bool) -> list[_Run]:
    """The model's recorded runs, newest first: language-model runs for a language model,
    `assay eval run` runs for any other."""
    rows = conn.execute(
        select(
            eval_runs.c.id,
            eval_runs.c.commit_id,
            eval_runs.c.dataset,
            eval_runs.c.task,
            eval_runs.c.record,
        )
        .where(eval_runs.c.model_id == model_id)
        .order_by(eval_runs.c.created.desc(), eval_runs.c.id)
    ).all()
    out = []
    for r in rows:
        if (r.task == "llm") != llm:
            continue
        key = r.commit_id
        if llm:
            key += ":" + str(json.loads(r.record).get("llm_task", {}).get("sha256"))
        out.append(_Run(r.id, r.commit_id, r.dataset, r.task, key))
    return out


def _stage(conn: Connection, model_id: str) -> str:
    return str(
        conn.execute(select(models_table.c.stage).where(models_table.c.id == model_id)).scalar_one()
    )


def _production(conn: Connection, name: str, other_than: str) -> ModelInfo | None:
    from assay.models.registry import _row_to_info

    row = conn.execute(
        select(models_table).where(
            models_table.c.name == name,
            models_table.c.stage == "production",
            models_table.c.id != other_than,
        )
    ).first()
    return None if row is None else _row_to_info(row)


def _paired_gate(
    ws: Workspace,
    base_run: str,
    cand_run: str,
    task: str,
    max_drop: float,
    alpha: float,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    from assay.evaluation.runs import gate
    from assay.evaluation.runs._gate import DEFAULT_METRIC

    if task not in DEFAULT_METRIC and task != "llm":
        raise InvalidInput(f"runs of task {task!r} have no paired gate yet; promote with --force")
    res = gate(ws, base_run, cand_run, max_drop=max_drop, alpha=alpha, progress=progress)
    return res.to_dict()


def promote(
    ws: Workspace,
    spec: str,
    stage: str,
    *,
    run: str | None = None,
    max_drop: float = 0.0,
    alpha: float = 0.05,
    force: bool = False,
    reason: str | None = None,
    actor: str | None = None,
    demote: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Promotion:
    """Move model `spec` to `stage` on a passing paired gate, or by force with a reason.

    Args:
        ws: The workspace.
        spec: ``NAME@VERSION`` (or ``NAME``: the latest version).
        stage: ``staging`` or ``production``.
        run: The candidate's evaluation run id to use (default: its latest with a pair).
        max_drop: Largest drop of the gate metric against production the gate tolerates.
        alpha: Significance level of the paired test.
        force: Promote without evidence; needs `reason`, which the audit trail keeps.
        reason: Why a forced promotion is right.
        actor: Who promotes (default the workspace actor).
        demote: Allow moving the production version to staging, which leaves the name with
            no version in production.
        progress: `progress(done, total)` hears of the paired gate's bootstrap resamples
            (see `assay.evaluation.runs.gate`), the long step of a gated promotion.

    Raises:
        InvalidInput: bad stage, `max_drop` outside 0..1 or `alpha` outside (0, 1), no
            recorded run, no paired run of the production version, `force` without `reason`.
            GateFailed: the candidate is significantly worse. Conflict: the version is
            already at that stage, or is the production version and `demote` is not set.
    """
    from assay.evaluation.runs import GateFailed, check_gate_bounds

    if stage not in ("staging", "production"):
        raise InvalidInput(f"--stage {stage!r}: use staging or production")
    check_gate_bounds(max_drop, alpha)
    if force and not (reason or "").strip():
        raise InvalidInput("--force needs --reason: say why this promotion skips the gate")
    if reason and not force:
        raise InvalidInput("--reason goes with --force; a gated promotion needs no reason")
    info = get_model(ws, spec)
    llm = info.task == "causal-lm"
    with ws.db.read() as conn:
        previous = _stage(conn, info.id)
        prod = _production(conn, info.name, info.id)
        mine = _runs(conn, info.id, llm)
        theirs = _runs(conn, prod.id, llm) if prod is not None else []
    if previous == stage:
        raise Conflict(f"model {info.ref} is already in {stage}")
    if previous == "production" and not demote:
        # Nothing else takes its place: the name would be left with no production version.
        raise Conflict(
            f"model {info.ref} is in production: moving it to {stage} leaves {info.name} with "
            f"no version in production; promote another version to production instead (that "
            f"archives {info.ref}), or add --demote to take it out of production anyway"
        )
    if run is not None:
        mine = [r for r in mine if r.id == run or r.id.startswith(run)]
        if not mine:
            raise InvalidInput(f"--run {run}: not a recorded evaluation run of model {info.ref}")
    chosen = base = None
    result: dict[str, Any] | None = None
    if not force:
        if not mine:
            how = (
                f"assay eval llm TASK.yaml --model {info.ref} --out DIR"
                if llm
                else f"assay eval run --dataset DATASET@REV --model {info.ref} --out DIR"
            )
            kind = "language-model evaluation run" if llm else "evaluation run"
            raise InvalidInput(
                f"model {info.ref} has no recorded {kind}; run `{how}` (or --force --reason)"
            )
        if prod is None:
            chosen = mine[0]
        else:
            by_key = {r.pair_key: r for r in reversed(theirs)}  # latest run per commit (and task)
            pair = next(((r, by_key[r.pair_key]) for r in mine if r.pair_key in by_key), None)
            if pair is None:
                commits = ", ".join(sorted({f"{r.dataset}@{r.commit_id[:12]}" for r in mine}))
                what = "with the same task file " if llm else ""
                cmd = "assay eval llm" if llm else "assay eval run"
                raise InvalidInput(
                    f"no run of production model {prod.ref} {what}on a commit {info.ref} was "
                    f"run on ({commits}); run `{cmd}` for {prod.ref} there (or --force --reason)"
                )
            chosen, base = pair
            result = _paired_gate(ws, base.id, chosen.id, chosen.task, max_drop, alpha, progress)
            if not result["passed"]:
                raise GateFailed(
                    f"gate failed: {info.ref} is significantly worse than production {prod.ref} "
                    f"on {', '.join(result['failing'])} ({result['metric']}, max drop "
                    f"{max_drop}); nothing promoted"
                )
    return _record(ws, info, stage, previous, prod, chosen, base, result, force, reason, actor)


def _record(
    ws: Workspace,
    info: ModelInfo,
    stage: str,
    previous: str,
    prod: ModelInfo | None,
    chosen: Any,
    base: Any,
    result: dict[str, Any] | None,
    force: bool,
    reason: str | None,
    actor: str | None,
) -> Promotion:
    who = actor or ws.actor
    p = Promotion(
        model=info.ref,
        stage=stage,
        previous=previous,
        run=chosen.id if chosen is not None else None,
        baseline=prod.ref if prod is not None and base is not None else None,
        baseline_run=base.id if base is not None else None,
        gate=result,
        forced=force,
        reason=reason if force else None,
        actor=who,
        created=now_iso(),
    )
    with ws.db.begin() as conn:
        if _stage(conn, info.id) != previous:
            raise Conflict(f"model {info.ref} changed stage meanwhile; try again")
        conn.execute(update(models_table).where(models_table.c.id == info.id).values(stage=stage))
        archived = None
        if stage == "production" and prod is not None:
            conn.execute(
                update(models_table).where(models_table.c.id == prod.id).values(stage="archived")
            )
            archived = prod.ref
        conn.execute(
            model_promotions.insert().values(
                model_id=info.id,
                stage=stage,
                previous=previous,
                run_id=p.run,
                baseline_model_id=prod.id if base is not None and prod is not None else None,
                baseline_run_id=p.baseline_run,
                gate=canonical_json(result),
                forced=int(force),
                reason=p.reason,
                actor=who,
                created=p.created,
            )
        )
        details = {
            "stage": stage,
            "previous": previous,
            "run": p.run,
            "baseline": p.baseline,
            "baseline_run": p.baseline_run,
            "gate_passed": None if result is None else result["passed"],
            "forced": force,
            "reason": p.reason,
            "archived": archived,
        }
        audit.append(conn, who, "model.promote", f"model:{info.ref}", details)
    return p


@dataclass(frozen=True)
class StageView:
    """A version's stage and the promotion that put it there (None for candidates)."""

    stage: str
    promotion: Promotion | None


def stages(ws: Workspace) -> dict[str, StageView]:
    """Model id -> its stage and latest promotion, for every registered version."""
    from assay.models.registry import _row_to_info

    with ws.db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(models_table)).all()}
        promos = conn.execute(select(model_promotions).order_by(model_promotions.c.id)).all()
    refs = {mid: _row_to_info(r).ref for mid, r in rows.items()}
    latest: dict[str, Promotion] = {}
    for pr in promos:
        latest[pr.model_id] = Promotion(
            model=refs.get(pr.model_id, pr.model_id),
            stage=pr.stage,
            previous=pr.previous,
            run=pr.run_id,
            baseline=refs.get(pr.baseline_model_id) if pr.baseline_model_id else None,
            baseline_run=pr.baseline_run_id,
            gate=json.loads(pr.gate),
            forced=bool(pr.forced),
            reason=pr.reason,
            actor=pr.actor,
            created=pr.created,
        )
    return {mid: StageView(str(r.stage), latest.get(mid)) for mid, r in rows.items()}
