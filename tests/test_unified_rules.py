"""One rule each for ideas several analyses share (issue 11, item 10).

Each child's latest need, "scored twice within 14 days", the standard error of
measurement, and the engine and comparison choices are defined once; these
tests fail if a second copy reappears or the rule changes.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vc_eval.analysis import agreement, measurement_error, profile, spend
from vc_eval.core import options
from vc_eval.core.dataset import Dataset
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.population import SECOND_SCORING_DAYS, latest_review, second_scoring_pairs
from vc_eval.core.schema import Col
from vc_eval.reporting import cache

SRC = Path(__file__).resolve().parents[1] / "src" / "vc_eval"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _with_latest_scorings(bundled: Dataset, second_day: int, shuffle: int = 0) -> Dataset:
    """The bundled data plus, for one child in care, two late scorings by two assessors.

    The first (assessor X) scores every domain 10, the second (assessor Y,
    ``second_day`` days later) 50, both after every other scoring in the data.
    """
    kids = bundled.children
    kid = kids.loc[kids[Col.left_care].isna()].iloc[0]
    a = bundled.assessments
    day1 = a[Col.assessment_date].max() + pd.Timedelta(days=1)
    domains = bundled.framework.domain_ids
    rows = []
    day2 = day1 + pd.Timedelta(days=second_day)
    for assessor, day, score in (("X", day1, 10.0), ("Y", day2, 50.0)):
        for d in domains:
            rows.append(
                {
                    Col.child_id: kid[Col.child_id],
                    Col.assessment_date: day,
                    Col.assessor_id: assessor,
                    Col.domain: d,
                    Col.score: score,
                }
            )
    extra = pd.DataFrame(rows)
    for c in a.columns:
        if c not in extra:
            extra[c] = a.loc[a[Col.child_id] == kid[Col.child_id], c].iloc[0]
    new = pd.concat([a, extra[a.columns]], ignore_index=True).astype(a.dtypes.to_dict())
    if shuffle:
        new = new.sample(frac=1.0, random_state=shuffle).reset_index(drop=True)
    tables = {**bundled.tables, "assessments": new}
    ds = Dataset(tables, metadata=bundled.metadata, framework=bundled.framework)
    ds.attrs_kid = kid[Col.child_id]  # type: ignore[attr-defined]
    ds.attrs_day = day1 + pd.Timedelta(days=second_day)  # type: ignore[attr-defined]
    return ds


@pytest.mark.parametrize("gap", [0, SECOND_SCORING_DAYS])
@pytest.mark.parametrize("shuffle", [0, 3])
def test_latest_need_averages_the_latest_review_everywhere(bundled, gap, shuffle):
    """Same-day (and within-window) scorings by two assessors: every latest need is their mean."""
    ds = _with_latest_scorings(bundled.subset(bundled.council_names()[0]), gap, shuffle)
    kid, end = ds.attrs_kid, ds.attrs_day
    snap = profile.latest_scores(ds, period=(end - pd.Timedelta(days=365), end))
    row = snap.scores.set_index(Col.child_id).loc[str(kid)]
    assert row[TOTAL_NEED] == pytest.approx(30.0)
    assert row[Col.assessment_date] == end
    prof = spend.snapshot_frame(ds, at=end).set_index(Col.child_id)
    assert prof.loc[str(kid), TOTAL_NEED] == pytest.approx(30.0)
    # the cross-council comparison uses the same rule (no arbitrary same-day assessor)
    got = cache.latest_need(ds, end - pd.Timedelta(days=365), end)
    assert got["mean"] == pytest.approx(float(snap.scores[TOTAL_NEED].mean()))
    assert got["children"] == len(snap.scores)


@pytest.mark.parametrize("gap", [0, SECOND_SCORING_DAYS])
def test_change_first_to_latest_uses_the_latest_review(bundled, gap):
    ds = _with_latest_scorings(bundled.subset(bundled.council_names()[0]), gap)
    kid = str(ds.attrs_kid)
    ch = profile.need_change(ds).per_child
    row = ch[(ch[Col.child_id] == kid) & (ch[Col.domain] == TOTAL_NEED)].iloc[0]
    assert row["latest"] == pytest.approx(30.0)


def test_a_scoring_outside_the_window_is_a_new_review(bundled):
    ds = _with_latest_scorings(bundled.subset(bundled.council_names()[0]), SECOND_SCORING_DAYS + 1)
    kid, end = ds.attrs_kid, ds.attrs_day
    snap = profile.latest_scores(ds, period=(end - pd.Timedelta(days=365), end))
    assert snap.scores.set_index(Col.child_id).loc[str(kid), TOTAL_NEED] == pytest.approx(50.0)
    rows = latest_review(ds.assessments)
    assert set(rows.loc[rows[Col.child_id] == kid, Col.assessor_id]) == {"Y"}


def test_one_pairing_rule_for_agreement_and_measurement_error():
    # A, B 10 days later, A again 3 days after: one pair (A-B); a scoring is used once
    child = np.array(["c"] * 3 + ["d"] * 2)
    day = np.array([0, 10, 13, 0, 15])
    who = np.array(["A", "B", "A", "A", "B"])
    first, second = second_scoring_pairs(child, day, who)
    assert first.tolist() == [0] and second.tolist() == [1]


def test_the_sem_is_one_estimator_in_score_points(bundled):
    """profile.measurement_error and error_variance agree: SEM = sqrt(variance), same pairs."""
    a = bundled.assessments
    dom = bundled.framework.domain_ids[0]
    per_domain = profile.measurement_error(a, domains=[dom], framework=bundled.framework)
    ev = measurement_error.error_variance(
        measurement_error.composite_scores(a, [dom]), window_days=SECOND_SCORING_DAYS
    )
    row = per_domain.iloc[0]
    assert row["n_pairs"] == ev.n_pairs
    assert row["sem"] == pytest.approx(ev.sem, rel=1e-12)
    assert ev.sem == pytest.approx(np.sqrt(ev.variance))


def _module_level_int_constants(tree: ast.Module, value: int) -> list[str]:
    out = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            v = node.value
            if isinstance(v, ast.Constant) and v.value == value and not isinstance(v.value, bool):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                out += [t.id for t in targets if isinstance(t, ast.Name)]
    return out


def _window_defaults(tree: ast.Module) -> list[str]:
    """Function parameters about a repeat/pair window whose default is a number literal."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            args = node.args
            pos = args.posonlyargs + args.args
            pairs = list(zip(pos[len(pos) - len(args.defaults) :], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
            for arg, default in pairs:
                if (
                    isinstance(default, ast.Constant)
                    and default.value == SECOND_SCORING_DAYS
                    and ("window" in arg.arg or "repeat" in arg.arg or "gap" in arg.arg)
                ):
                    out.append(f"{node.name}({arg.arg})")
    return out


def test_no_second_copy_of_the_second_scoring_window():
    """Only core.population declares the 14 days; everything else imports it."""
    found = []
    for p in sorted(SRC.rglob("*.py")):
        tree = ast.parse(p.read_text())
        rel = p.relative_to(SRC).as_posix()
        names = [
            n
            for n in _module_level_int_constants(tree, SECOND_SCORING_DAYS)
            if any(w in n for w in ("WINDOW", "REPEAT", "SECOND", "PAIR"))
        ]
        found += [f"{rel}: {n}" for n in names] + [f"{rel}: {f}" for f in _window_defaults(tree)]
    assert found == ["core/population.py: SECOND_SCORING_DAYS"]
    assert agreement.WINDOW_DAYS == measurement_error.REPEAT_WINDOW_DAYS == SECOND_SCORING_DAYS


def _string_tuples(tree: ast.Module) -> list[tuple[str, ...]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List) and node.elts:
            if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                out.append(tuple(e.value for e in node.elts))
    return out


def test_engine_and_comparison_choices_are_declared_once():
    copies = []
    for p in sorted(SRC.rglob("*.py")):
        if p.name == "options.py" and p.parent.name == "core":
            continue
        for t in _string_tuples(ast.parse(p.read_text())):
            if set(t) in (set(options.ENGINES), set(options.COMPARISONS)):
                copies.append(f"{p.relative_to(SRC)}: {t}")
    assert copies == []
    # the notebook parameters (and the text documenting them above) list the same choices
    for nb in ("impact_update.ipynb", "need_peaks.ipynb"):
        cells = json.loads((NOTEBOOKS / nb).read_text())["cells"]
        src = "".join(cells[0]["source"]) + "".join(cells[1]["source"])
        if "engine:" in src:
            assert " | ".join(options.ENGINES) in src, nb
        if "comparison:" in src:
            assert " | ".join(options.COMPARISONS) in src, nb


def test_cli_offers_exactly_the_declared_choices():
    from vc_eval.commands.fit import fit
    from vc_eval.commands.report import report
    from vc_eval.reporting import context

    def choices(cmd, name):
        return tuple(next(p for p in cmd.params if p.name == name).type.choices)

    assert choices(report, "engine") == choices(fit, "engine") == options.ENGINES
    assert choices(report, "comparison") == options.COMPARISONS
    assert context.ENGINES is options.ENGINES and context.COMPARISONS is options.COMPARISONS
