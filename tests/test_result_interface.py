"""Every public analysis result has the one interface: to_frame, summary, caveats, plot."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import vc_eval.analysis
from vc_eval.core.summary import Result, Summary

#: Result classes in modules other branches are moving onto the interface (spend,
#: outcomes, impact). The lead empties this when those branches merge.
PENDING_MODULES: tuple[str, ...] = ()
#: Returned objects that are not results a reader sees: row-level inputs (never shown)
#: and the numerical engines' outputs that a Result wraps.
NOT_RESULTS = {
    "vc_eval.analysis.agreement.ScoreMatrix",  # row-level scores, input to analyses
    "vc_eval.analysis.profile.Snapshot",  # row-level latest scores, input to analyses
    "vc_eval.analysis.lmm_fast.GroupStats",  # sufficient statistics of the fast engine
    "vc_eval.analysis.lmm_fast.LMMResult",  # engine output, wrapped by GrowthFit
    "vc_eval.analysis.lmm_fast.LMMBootstrap",  # engine output, wrapped by GrowthFit.peaks
    "vc_eval.analysis.trajectories.engines.EngineFit",  # engine output, wrapped by GrowthFit
    "vc_eval.analysis.measurement_error.ErrorVariance",  # two numbers used by eiv_ols
    "vc_eval.analysis.measurement_error.EIVFit",  # used inside outcomes (h-evidence)
}


def _modules():
    out = []
    for info in pkgutil.walk_packages(vc_eval.analysis.__path__, "vc_eval.analysis."):
        out.append(importlib.import_module(info.name))
    return out


def _returned_classes() -> dict[str, type]:
    """Classes that public analysis functions say they return (by their annotation)."""
    found: dict[str, type] = {}
    for mod in _modules():
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != mod.__name__:
                continue
            ret = inspect.signature(fn).return_annotation
            ret = ret if isinstance(ret, str) else getattr(ret, "__name__", "")
            cls = getattr(mod, ret.split("[")[0].strip(), None)
            if inspect.isclass(cls) and cls.__module__.startswith("vc_eval.analysis"):
                found[f"{cls.__module__}.{cls.__name__}"] = cls
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and name.endswith("Result"):
                found[f"{cls.__module__}.{name}"] = cls
    return found


def test_every_returned_result_derives_from_result():
    classes = _returned_classes()
    assert len(classes) >= 10
    missing = [
        name
        for name, cls in classes.items()
        if not issubclass(cls, Result)
        and not name.startswith(PENDING_MODULES)
        and name not in NOT_RESULTS
    ]
    assert missing == []


def test_result_subclasses_declare_the_interface():
    subclasses = {
        f"{c.__module__}.{c.__name__}": c
        for mod in _modules()
        for _, c in inspect.getmembers(mod, inspect.isclass)
        if issubclass(c, Result) and c is not Result
    }
    assert len(subclasses) >= 12
    for name, cls in subclasses.items():
        assert cls.to_frame is not Result.to_frame, name
        assert cls.summary is not Result.summary, name
        assert cls._plot is not None or cls.plot is not Result.plot, name


@pytest.fixture(scope="module")
def instances(bundled):
    """One instance of each result this branch owns, from one bundled council."""
    from vc_eval.analysis import agreement, care, profile
    from vc_eval.analysis.trajectories import compare_groups, fit_domains

    council = bundled.council_names()[0]
    ds = bundled.subset(council)
    end = ds.assessments["assessment_date"].max()
    start = end - pd.DateOffset(years=1)
    prof = profile.needs_profile(ds, period=(start, end), progress=False)
    fits = fit_domains(ds, domains=[], include_total=True, areas=False, basis="linear")
    fit = fits["total_need"]
    comp = compare_groups(
        bundled,
        by="council",
        domain="total_need",
        basis="linear",
        random="intercept",
        engine="fast",
    )
    return {
        "prevalence": prof.prevalence,
        "complexity": prof.complexity,
        "clusters": prof.clusters,
        "change": prof.change,
        "profile": prof,
        "agreement": agreement.agreement(ds.assessments, framework=ds.framework),
        "population": care.care_population(ds, start, end),
        "costs": care.placement_costs(ds, end, start=start),
        "stability": care.placement_stability(ds, start, end),
        "growth": fit,
        "peaks": fit.peaks(n=50),
        "domains": fits,
        "compare": comp,
    }


@pytest.mark.parametrize(
    "key",
    [
        "prevalence",
        "complexity",
        "clusters",
        "change",
        "profile",
        "agreement",
        "population",
        "costs",
        "stability",
        "growth",
        "peaks",
        "domains",
        "compare",
    ],
)
def test_instances_keep_the_interface(instances, key):
    res = instances[key]
    assert isinstance(res, Result)
    assert isinstance(res.to_frame(), pd.DataFrame)
    sm = res.summary()
    assert isinstance(sm, Summary) and sm.title
    assert sm.findings and all(f.text for f in sm.findings)
    assert isinstance(res.caveats, list) and all(isinstance(c, str) for c in res.caveats)
    for text in (sm.to_text(), sm.to_html(), sm.to_markdown()):
        assert isinstance(text, str) and text
    _, ax = plt.subplots()
    assert res.plot(ax=ax) is not None
    plt.close("all")
