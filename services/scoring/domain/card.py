"""Model card: a JSON-able dict built from a trained model's metadata, and its Markdown.

A tuned model's card has a ``tuning`` section (``tuning_section``): the search, the chosen
parameters and rounds, the best inner-CV AUC on the fit rows, and the nested CV's outer-fold
AUC mean ± sd — the honest figure, since no outer fold was seen by the search that scored it.

The card also tells how the version's loans performed (``performance_section``): the
performance report of its own decisions and the outcomes loans reported for them
(``domain.performance``), with the address of its chart (``domain.performance_svg``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import GRADE_CUTOFFS, LOWEST_GRADE

TOP_DRIVERS = 10

_DIRECTION = {1: "higher is better", -1: "higher is worse", 0: "unconstrained"}

CALIBRATION_NOTE = (
    "Platt scaling fitted on the validation split's raw LightGBM margins: "
    "PD = sigmoid(a·raw + b). The calibrated margin a·raw + b is linear in the raw margin, "
    "so the exact TreeSHAP decomposition raw = φ0 + Σφj carries over: calibrated margin = "
    "(a·φ0 + b) + Σ a·φj. With score = offset − factor·margin every decision is exactly "
    "base points + Σ feature points, where base points = offset − factor·(a·φ0 + b) and "
    "feature points = −factor·a·φj."
)

INTENDED_USE = [
    "Support, not replace, a loan officer's credit decision for the segment's applicants.",
    "Rank applicants by risk and estimate a probability of default for pricing and limits.",
    "Give applicants the main reasons (reason codes) that lowered their score.",
]

OUT_OF_SCOPE = [
    "Automated rejection without human review.",
    "Applicants outside the segment or outside the spec's ranges and categories.",
    "Decisions based on protected attributes (none are model inputs; check adverse impact).",
    "Employment, insurance or any non-credit decision.",
]

LIMITATIONS = [
    "Trained on the data described above; if that is synthetic, metrics say nothing about real applicants.",
    "PD is calibrated on the validation split; recalibrate when the default rate shifts.",
    "Monotone constraints guarantee direction, not that the magnitude of an effect is right; "
    "they order observed values only — a missing value takes each split's learned default "
    "branch and may score better or worse than any observed value.",
    "Points explain the model, not the world: a feature can carry points through "
    "correlation with a true driver.",
    "Monitor PSI of scores and features; above 0.25 the model needs review.",
]


TUNING_NOTE = (
    "Parameters searched with Optuna (TPE sampler, seeded; the first trial is the defaults) on "
    "the fit rows (train + validation), each trial scored by the mean AUC of stratified inner "
    "folds with early stopping on it; the spec's monotone constraints are never searched. The "
    "outer AUC is nested cross-validation: each outer fold is scored by a model tuned on the "
    "other folds only."
)


def tuning_section(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The card's ``tuning`` section from the model's metrics (None for an untuned model)."""
    tuning, cv = metrics.get("tuning"), metrics.get("cv") or {}
    if not tuning:
        return None
    return {
        "method": "optuna-tpe",
        "trials": tuning["trials"],
        "inner_folds": tuning["inner_folds"],
        "outer_folds": cv.get("folds"),
        "best_params": dict(tuning["best_params"]),
        "num_boost_round": tuning["num_boost_round"],
        "inner_auc": tuning["inner_auc"],
        "outer_auc_mean": cv.get("auc_mean"),
        "outer_auc_std": cv.get("auc_std"),
        "note": TUNING_NOTE,
    }


def build_model_card(model: TrainedModel) -> dict[str, Any]:
    """The model card as a JSON-able dict."""
    meta = model.metadata
    test = dict(meta["metrics"]["test"])
    calibration_table = test.pop("calibration", [])
    importance: Mapping[str, Mapping[str, float]] = meta["global_importance"]
    drivers = sorted(importance.items(), key=lambda kv: (-kv[1]["mean_abs_points"], kv[0]))
    return {
        "model": {
            "segment": model.segment,
            "spec_version": meta["spec_version"],
            "artifact_sha256": model.artifact_sha256,
            "algorithm": "LightGBM gradient-boosted trees, binary objective "
            "(raw output = log-odds of default)",
            "best_iteration": meta["best_iteration"],
            "seed": meta["seed"],
            "library_versions": meta["library_versions"],
        },
        "intended_use": INTENDED_USE,
        "out_of_scope_use": OUT_OF_SCOPE,
        "data": dict(meta["data"]),
        "metrics": {"test": test, "cv": meta["metrics"].get("cv")},
        "tuning": tuning_section(meta["metrics"]),
        "calibration": {
            **meta["calibration"],
            "note": CALIBRATION_NOTE,
            "table": calibration_table,
        },
        "score_scale": meta["score_scale"],
        "grades": [{"grade": g, "min_score": s} for g, s in GRADE_CUTOFFS]
        + [{"grade": LOWEST_GRADE, "min_score": None}],
        "monotone_constraints": [
            {
                "feature": f.name,
                "direction": _DIRECTION[f.monotone],
                "lightgbm_constraint": f.lgbm_monotone,
            }
            for f in model.spec.features
        ],
        "top_drivers": [
            {
                "feature": name,
                "code": model.spec.feature(name).reason_code,
                "mean_abs_points": values["mean_abs_points"],
            }
            for name, values in drivers[:TOP_DRIVERS]
        ],
        "limitations": LIMITATIONS,
    }


def performance_section(report: Mapping[str, Any], *, chart: str) -> dict[str, Any]:
    """The card's ``performance`` section: the version's performance report and its chart's path."""
    figures = {k: v for k, v in report.items() if k not in ("segment", "model_version")}
    return {**figures, "chart": chart}


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value:.1%}"


def performance_markdown(section: Mapping[str, Any]) -> list[str]:
    """The ``performance`` section as Markdown lines (counts beside every rate)."""
    d, impact = section["discrimination"], section["adverse_impact"]
    return [
        f"## Performance on outcomes (as of {section['as_of']})",
        f"Decisions: {section['decisions']}; loans with an outcome: {section['loans']}; "
        f"matured: {section['matured']}. A loan has defaulted when it reached 90 days past due "
        "or was written off within 12 months of disbursement; only matured loans count towards "
        "default rates, AUC and KS.",
        "",
        *([section["note"], ""] if section["note"] else []),
        f"![Realised default rate vs mean predicted PD per grade]({section['chart']})",
        "",
        "| grade | matured | defaulted | realised default rate | mean predicted PD |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {g['grade']} | {g['matured']} | {g['defaulted']} | {_pct(g['default_rate'])} "
            f"| {_pct(g['mean_pd'])} |"
            for g in section["grades"]
        ],
        "",
        f"AUC {_fmt(d['auc'])}, KS {_fmt(d['ks'])} on {d['matured']} matured loans "
        f"({d['defaulted']} defaulted)" + (f". {d['note']}" if d["note"] else ""),
        "",
        f"Vintages (disbursement months): {len(section['vintages'])}. Adverse-impact ratio on "
        f"approvals: {_fmt(impact['approvals']['ratio'])}; on outcomes: {_fmt(impact['outcomes']['ratio'])} "
        f"(threshold {_fmt(impact['approvals']['threshold'], 2)}).",
    ]


def tuning_markdown(section: Mapping[str, Any]) -> list[str]:
    """The ``tuning`` section as Markdown lines."""
    return [
        "## Tuning",
        f"{section['trials']} Optuna trials, {section['inner_folds']} inner folds: best inner AUC "
        f"{_fmt(section['inner_auc'])}; nested {section['outer_folds']}-fold outer AUC "
        f"{_fmt(section['outer_auc_mean'])} ± {_fmt(section['outer_auc_std'])}; "
        f"{section['num_boost_round']} rounds. {section['note']}",
        "",
        "| parameter | value |",
        "| --- | --- |",
        *[f"| {name} | {_fmt(value, 6)} |" for name, value in section["best_params"].items()],
    ]


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "—" if value is None else str(value)


def model_card_markdown(card: Mapping[str, Any]) -> str:
    """Render a card from :func:`build_model_card` as Markdown."""
    m, data, test = card["model"], card["data"], card["metrics"]["test"]
    cal, scale = card["calibration"], card["score_scale"]
    lines = [
        f"# Model card — {m['segment']} (spec {m['spec_version']})",
        "",
        f"- Artifact SHA-256: `{m['artifact_sha256']}`",
        f"- Algorithm: {m['algorithm']}; trees: {m['best_iteration']}; seed: {m['seed']}",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["library_versions"].items()),
        "",
        "## Intended use",
        *[f"- {item}" for item in card["intended_use"]],
        "",
        "## Out-of-scope use",
        *[f"- {item}" for item in card["out_of_scope_use"]],
        "",
        "## Data",
        f"- Rows: {data['rows']} (train {data['split']['train']}, valid "
        f"{data['split']['valid']}, test {data['split']['test']})",
        f"- Default rate: {_fmt(data['default_rate'])}",
        f"- Fingerprint (SHA-256): `{data['fingerprint']}`",
        "",
        "## Metrics (held-out test split)",
        "| AUC | Gini | KS | Brier | log loss |",
        "| --- | --- | --- | --- | --- |",
        f"| {_fmt(test['auc'])} | {_fmt(test['gini'])} | {_fmt(test['ks'])} "
        f"| {_fmt(test['brier'])} | {_fmt(test['log_loss'])} |",
    ]
    cv = card["metrics"].get("cv")
    if cv and cv.get("nested"):
        lines.append(
            f"\nNested {cv['folds']}-fold CV AUC: {_fmt(cv['auc_mean'])} ± {_fmt(cv['auc_std'])} "
            f"({cv['inner_folds']} inner folds, {cv['trials']} trials per outer fold)"
        )
    elif cv:
        lines.append(f"\n{cv['folds']}-fold CV AUC: {_fmt(cv['auc_mean'])} ± {_fmt(cv['auc_std'])}")
    if card.get("tuning"):
        lines += ["", *tuning_markdown(card["tuning"])]
    lines += [
        "",
        "## Calibration",
        f"Method: {cal['method']} (a = {_fmt(cal['a'], 6)}, b = {_fmt(cal['b'], 6)}). " + cal["note"],
        "",
        "| bin | count | mean PD | observed default rate |",
        "| --- | --- | --- | --- |",
        *[
            f"| {row['bin']} | {row['count']} | {_fmt(row['mean_pd'])} "
            f"| {_fmt(row['observed_default_rate'])} |"
            for row in cal["table"]
        ],
        "",
        "## Score scale",
        f"{_fmt(scale['base_points'], 0)} points at good:bad odds {_fmt(scale['base_odds'], 0)}:1, "
        f"{_fmt(scale['pdo'], 0)} points to double the odds (factor {_fmt(scale['factor'])}, "
        f"offset {_fmt(scale['offset'])}). Grades: "
        + ", ".join(
            f"{g['grade']} ≥ {_fmt(g['min_score'], 0)}"
            if g["min_score"] is not None
            else f"{g['grade']} below"
            for g in card["grades"]
        ),
        "",
        "## Monotone constraints",
        "| feature | direction | LightGBM constraint |",
        "| --- | --- | --- |",
        *[
            f"| {c['feature']} | {c['direction']} | {c['lightgbm_constraint']} |"
            for c in card["monotone_constraints"]
        ],
        "",
        "## Top global drivers (mean |points|)",
        "| feature | code | mean abs points |",
        "| --- | --- | --- |",
        *[f"| {d['feature']} | {d['code']} | {_fmt(d['mean_abs_points'], 2)} |" for d in card["top_drivers"]],
        "",
        *([*performance_markdown(card["performance"]), ""] if card.get("performance") else []),
        "## Limitations",
        *[f"- {item}" for item in card["limitations"]],
        "",
    ]
    return "\n".join(lines)
