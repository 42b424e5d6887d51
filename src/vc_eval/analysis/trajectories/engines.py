"""Engines that fit ``y = X beta + Z b_g + e``: statsmodels MixedLM and the fast engine.

Both are fed the same arrays and return an :class:`EngineFit`, so the
choice of engine is one branch and results are directly comparable.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vc_eval.core.options import ENGINES

#: Optimisers tried in order until one converges. Nelder-Mead is left out on
#: purpose: it stops early on these likelihoods without saying so.
DEFAULT_METHODS: tuple[str, ...] = ("lbfgs", "bfgs", "cg", "powell")
#: Tolerances per optimiser. L-BFGS-B (first: about half the likelihood
#: evaluations of BFGS here) stops with variance components correct to about
#: 1e-5 relative, far inside their standard errors; its tolerances cannot be
#: passed through MixedLM.fit. BFGS and CG get a tight gradient tolerance, so
#: ``methods=("bfgs",)`` gives fits correct to ~1e-8 when that matters.
METHOD_OPTIONS: dict[str, dict] = {"bfgs": {"gtol": 1e-8}, "cg": {"gtol": 1e-8}}


@dataclass
class EngineFit:
    """What an engine returns, in the units of the arrays it was given.

    Attributes
    ----------
    fe_params : ndarray (p,)
    cov_fe : ndarray (p, p)
        Covariance of the fixed effects.
    cov_re : ndarray (q, q)
        Random-effects covariance (absolute, not relative to the residual).
    scale : float
        Residual variance.
    llf : float
        REML or ML log-likelihood as statsmodels reports it.
    converged : bool
    n_iter : int
    warnings : list of str
        Every warning raised while fitting, as ``"Category: message"``.
    method : str
        Optimiser that produced the accepted fit.
    attempts : list of dict
        One entry per optimiser tried: method, converged, llf, warnings.
    """

    fe_params: np.ndarray
    cov_fe: np.ndarray
    cov_re: np.ndarray
    scale: float
    llf: float
    converged: bool
    n_iter: int
    warnings: list[str]
    method: str
    attempts: list[dict] = field(default_factory=list)
    #: Fast engine: ``(LMMDesign, LMMResult)``, for bootstrap refits that
    #: reweight the design's statistics instead of rebuilding it.
    state: tuple | None = field(default=None, repr=False, compare=False)


def fit_arrays(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    groups: np.ndarray,
    *,
    reml: bool = True,
    engine: str = "fast",
    methods: Sequence[str] = DEFAULT_METHODS,
    polish: bool = False,
    design_cache=None,
) -> EngineFit:
    """Fit with the chosen engine.

    Parameters
    ----------
    y, X, Z, groups
        Response (n,), fixed-effects design (n, p), random-effects design
        (n, q) and group labels (n,).
    reml : bool
        REML (default) or ML.
    engine : {"statsmodels", "fast"}
    methods : sequence of str
        statsmodels optimisers, tried in order until one converges.
    polish : bool
        statsmodels only: restart BFGS (gradient tolerance 1e-8) from the
        accepted optimum, for variance components correct to ~1e-7
        relative instead of ~1e-4 (costs about half as much again).
    design_cache : vc_eval.analysis.lmm_fast.DesignCache, optional
        Fast engine only: reuse the design-only statistics of an equal
        design fitted before (e.g. another need domain of the same children).
    """
    if engine == "statsmodels":
        return _fit_statsmodels(y, X, Z, groups, reml=reml, methods=methods, polish=polish)
    if engine == "fast":
        return _fit_fast(y, X, Z, groups, reml=reml, design_cache=design_cache)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")


def _fmt(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {w.message}"


def _attempt(model, meth: str, reml: bool, start=None) -> tuple[dict, object | None]:
    """One statsmodels fit; every warning it raises is kept with the attempt."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = model.fit(
                reml=reml,
                method=[meth],
                full_output=True,
                start_params=start,
                **METHOD_OPTIONS.get(meth, {}),
            )
        except (np.linalg.LinAlgError, ValueError) as err:
            return {
                "method": meth,
                "converged": False,
                "llf": np.nan,
                "warnings": [f"{type(err).__name__}: {err}"],
                "n_iter": 0,
            }, None
    hist = (res.hist or [{}])[-1]
    return {
        "method": meth,
        "converged": bool(res.converged) and bool(np.isfinite(res.llf)),
        "llf": float(res.llf),
        "warnings": [_fmt(w) for w in caught],
        "n_iter": int(hist.get("iterations", hist.get("fcalls", 0)) or 0),
    }, res


def _fit_statsmodels(
    y, X, Z, groups, *, reml: bool, methods: Sequence[str], polish: bool = False
) -> EngineFit:
    from statsmodels.regression.mixed_linear_model import MixedLM

    methods = list(methods)
    if not methods:
        raise ValueError("methods must name at least one optimiser")
    if methods[0].lower() in ("nm", "nelder-mead"):
        raise ValueError("Nelder-Mead must not be the first optimiser (it stops early silently)")
    model = MixedLM(y, X, groups, exog_re=Z)
    attempts: list[dict] = []
    best = None
    for meth in methods:
        entry, res = _attempt(model, meth, reml)
        attempts.append(entry)
        if res is not None and (
            best is None
            or (entry["converged"], entry["llf"]) > (best[0]["converged"], best[0]["llf"])
        ):
            best = (entry, res)
        if entry["converged"]:
            break
    if best is None:
        details = "; ".join(f"{a['method']}: {', '.join(a['warnings'])}" for a in attempts)
        raise RuntimeError(f"every optimiser failed ({details})")
    entry, res = best
    notes = []
    failed = [a["method"] for a in attempts if not a["converged"]]
    if failed and entry["converged"]:
        notes.append(
            f"FitNote: optimiser(s) {', '.join(failed)} did not converge; "
            f"accepted the fit from {entry['method']}"
        )
    if not entry["converged"]:
        notes.append(
            "ConvergenceWarning: no optimiser converged (tried "
            + ", ".join(a["method"] for a in attempts)
            + "); estimates are from the best attempt and may be wrong"
        )
    method = entry["method"]
    if polish and entry["converged"]:
        p_entry, p_res = _attempt(model, "bfgs", reml, start=res.params_object)
        p_entry["method"] = "bfgs (polish)"
        attempts.append(p_entry)
        # BFGS may stop on "precision loss" this close to the optimum; keep its
        # point only when it is at least as good.
        # (Its own messages stay with the attempt: stopping on precision loss
        # at the optimum is expected, not a problem with the fit.)
        if p_res is not None and p_entry["llf"] >= entry["llf"]:
            res, method = p_res, f"{method}+bfgs"
        else:
            notes.append("FitNote: polishing did not improve the fit; kept the first optimum")
    p = X.shape[1]
    cov = np.asarray(res.cov_params())[:p, :p]
    return EngineFit(
        fe_params=np.asarray(res.fe_params, dtype=float),
        cov_fe=cov,
        cov_re=np.atleast_2d(np.asarray(res.cov_re, dtype=float)),
        scale=float(res.scale),
        llf=float(res.llf),
        converged=bool(entry["converged"]),
        n_iter=int(entry.get("n_iter", 0)),
        warnings=entry["warnings"] + notes,
        method=method,
        attempts=attempts,
    )


def _fit_fast(y, X, Z, groups, *, reml: bool, design_cache=None) -> EngineFit:
    # Imported here: the fast engine loads SciPy pieces.
    from vc_eval.analysis.lmm_fast import LMMDesign

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = LMMDesign(X, Z, groups) if design_cache is None else design_cache.get(X, Z, groups)
    fit = fit_design(design, y, reml=reml)
    if caught:
        fit.warnings[:0] = [_fmt(w) for w in caught]
    return fit


def fit_design(design, y: np.ndarray, *, reml: bool = True) -> EngineFit:
    """Fit response ``y`` with the fast engine on a built
    :class:`~vc_eval.analysis.lmm_fast.LMMDesign` (its design-only statistics
    shared with every other response fitted on it)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = design.fit(y, reml=reml)
    return _engine_fit(design, r, [_fmt(w) for w in caught])


def fit_designs(
    design, ys: Sequence[np.ndarray], *, reml: bool = True, workers: int = 1
) -> list[EngineFit | Exception]:
    """Fit several responses on one built
    :class:`~vc_eval.analysis.lmm_fast.LMMDesign`, on ``workers`` threads.

    The first response is fitted alone (it sets the design's warm start,
    :attr:`~vc_eval.analysis.lmm_fast.LMMDesign.hint`); the others then
    run side by side, each from that start, so every fit is the same
    whatever the number of workers. Threads share the design's arrays (no
    copies) and release the GIL in BLAS and whole-array numpy calls. Every
    warning raised while fitting a response is kept with that response's
    fit, as :func:`fit_design` does (attributed by thread: the warnings
    module's own recorder is process-wide). A response whose fit raises
    ``ValueError`` or ``RuntimeError`` gets the exception in its place.
    """
    ys = list(ys)
    out: list[EngineFit | Exception | None] = [None] * len(ys)
    if not ys:
        return []
    first = 0
    while first < len(ys) and out[first] is None:
        try:
            out[first] = fit_design(design, ys[first], reml=reml)
        except (ValueError, RuntimeError) as err:
            out[first] = err
            first += 1
            continue
        break
    rest = list(range(first + 1, len(ys)))
    if workers <= 1 or len(rest) < 2:
        for i in rest:
            try:
                out[i] = fit_design(design, ys[i], reml=reml)
            except (ValueError, RuntimeError) as err:
                out[i] = err
        return out
    from concurrent.futures import ThreadPoolExecutor

    from vc_eval.analysis.lmm_fast import single_thread_blas

    local = threading.local()
    caught: dict[int, list[str]] = {i: [] for i in rest}
    stray: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):
        i = getattr(local, "index", None)
        (stray if i is None else caught[i]).append(f"{category.__name__}: {message}")

    def one(i: int):
        local.index = i
        try:
            return design.fit(ys[i], reml=reml, set_hint=False)
        except (ValueError, RuntimeError) as err:
            return err
        finally:
            local.index = None

    with warnings.catch_warnings(), single_thread_blas():
        warnings.simplefilter("always")
        warnings.showwarning = show
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, rest))
    for i, r in zip(rest, results, strict=True):
        out[i] = r if isinstance(r, Exception) else _engine_fit(design, r, caught[i])
    for message in stray:  # raised outside any fit: passed on as they came
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return out


def _engine_fit(design, r, caught: list[str]) -> EngineFit:
    msgs = list(getattr(r, "warnings", []) or []) + list(caught)
    return EngineFit(
        fe_params=np.asarray(r.fe_params, dtype=float),
        cov_fe=np.asarray(r.cov_fe, dtype=float),
        cov_re=np.atleast_2d(np.asarray(r.cov_re, dtype=float)),
        scale=float(r.scale),
        llf=float(r.llf),
        converged=bool(r.converged),
        n_iter=int(getattr(r, "n_iter", 0) or 0),
        warnings=msgs,
        method="fast",
        attempts=[
            {
                "method": "fast",
                "converged": bool(r.converged),
                "llf": float(r.llf),
                "warnings": msgs,
            }
        ],
        state=(design, r),
    )
