"""Everything a council's report needs from the other councils, computed once per batch.

A report is about one council, but it sets that council against all the
others (placement mix and need across all councils, comparison councils for
programme impact). Loading and checking a national dataset (~240k children,
10M need scores) takes about 30 s, far longer than the report itself, so a
batch does it once:

* :func:`prepare_cache` (run by :mod:`vc_eval.reporting.render` before any notebook)
  loads and validates the data, writes each council's tables to their own
  folder, and the cross-council aggregates (placement mix and need across all
  councils, the council x month series for impact designs) to small files;
* :class:`CachedCouncils` reads them back in each notebook;
* :func:`save_page` / :func:`load_page` keep each finished report page (the
  audited sections, figures as PNGs) in the entry, keyed by the report's
  parameters and the code (:func:`page_key`), so the same report asked for
  again is read back rather than recomputed, byte for byte the same.

Both it and :class:`AllCouncils` (the same questions answered from a dataset
in memory, used when no cache is given) offer the interface the report
sections use, so a report's numbers do not depend on whether a cache was
used (tested).

The cache holds row-level data (pseudonymised ids) like the dataset it comes
from, so it lives *beside that dataset*, in ``<data folder>/.vc-eval-cache``
(under the same access controls as the data), never in the user's home
folder and never beside published reports. ``$VC_EVAL_CACHE`` or
``--cache-dir`` put it elsewhere on purpose; ``--no-cache`` does without; a
read-only data folder means no cache. ``vc-eval cache clear`` removes it
(:func:`clear_cache`; only entries this module wrote). Its key is the sha256
of the input files and of the code that computes what it holds, so changed
data or code never reads a stale entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.core.dataset import Dataset, concat
from vc_eval.core.files import atomic_dir, atomic_file
from vc_eval.core.framework import TOTAL_NEED
from vc_eval.core.population import in_care_on, placements_on, snapshot_date
from vc_eval.core.provenance import input_fingerprints
from vc_eval.core.schema import CHILDREN, Col
from vc_eval.core.summary import FigureOut

log = logging.getLogger("vc_eval.report")

CACHE_ENV = "VC_EVAL_CACHE"
#: Source files whose code shapes what the cache holds (part of the key).
_KEY_SOURCES = (
    "core/dataset.py",
    "core/population.py",
    "analysis/profile.py",
    "reporting/cache.py",
    "analysis/impact/series.py",
)


#: Folder of an entry holding every council's tables, councils in name order.
EVERYONE = "everyone"
#: Folder of the cache inside a dataset folder (hidden: not an input file).
CACHE_FOLDER = ".vc-eval-cache"
#: Written into every cache root, so :func:`clear_cache` only removes what it made.
_TAG = "CACHEDIR.TAG"
_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# vc-eval cache: row-level (pseudonymised) data derived from the dataset beside it.\n"
    "# Remove with `vc-eval cache clear`.\n"
)


def default_cache_dir(data_dir: str | Path | None = None) -> Path | None:
    """Where the cache of ``data_dir`` lives: ``$VC_EVAL_CACHE``, else beside the data.

    Returns ``<data_dir>/.vc-eval-cache``, or None (no cache) when the data
    folder cannot be written to and ``$VC_EVAL_CACHE`` is not set.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if data_dir is None:
        return None
    data_dir = Path(data_dir)
    target = data_dir / CACHE_FOLDER
    if target.is_dir():
        return target if os.access(target, os.W_OK) else None
    return target if data_dir.is_dir() and os.access(data_dir, os.W_OK) else None


def _mark(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tag = root / _TAG
    if not tag.exists():
        tag.write_text(_TAG_TEXT)


def _entries(root: Path) -> list[Path]:
    """Cache entries under ``root`` written by this module (a key folder with meta.json
    or council tables)."""
    if not (root / _TAG).exists():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if (
            d.is_dir()
            and len(d.name) == 64
            and all(c in "0123456789abcdef" for c in d.name)
            and ((d / "meta.json").exists() or (d / "councils").is_dir())
        ):
            out.append(d)
    return out


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cache_info(root: str | Path) -> dict:
    """Entries and bytes of the cache at ``root``."""
    root = Path(root)
    entries = _entries(root) if root.is_dir() else []
    return {"root": root, "entries": len(entries), "bytes": sum(_size(e) for e in entries)}


def clear_cache(root: str | Path) -> dict:
    """Remove the cache at ``root``: only entries this module wrote, then the
    folder itself if nothing else is in it.

    Returns
    -------
    dict
        ``root``, ``entries`` removed and ``bytes`` freed.
    """
    root = Path(root)
    info = cache_info(root)
    for e in _entries(root) if root.is_dir() else []:
        shutil.rmtree(e)
    if root.is_dir() and (root / _TAG).exists():
        left = [p for p in root.iterdir() if p.name != _TAG]
        if not left:
            (root / _TAG).unlink()
            root.rmdir()
    return info


def council_slug(name: str) -> str:
    """Folder name of a council: readable, and unique by a short hash."""
    readable = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")[:40]
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def cache_key(data_dir: str | Path) -> str:
    """sha256 over the input files' fingerprints and the code that fills the cache."""
    h = hashlib.sha256()
    for name, digest in input_fingerprints(data_dir).items():
        h.update(f"{name}={digest}\n".encode())
    here = Path(__file__).resolve().parents[1]
    for src in _KEY_SOURCES:
        p = here / src
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def _period_key(start: pd.Timestamp, end: pd.Timestamp) -> str:
    return f"{pd.Timestamp(start).date()}_{pd.Timestamp(end).date()}"


# --------------------------------------------------------------------------
# The questions a report asks about all councils
# --------------------------------------------------------------------------


def placement_snapshot(ds: Dataset, date: pd.Timestamp) -> dict:
    """Children in care on ``date`` across ``ds``, and how many are in each placement type."""
    kids = in_care_on(ds.children, date)
    active = placements_on(ds.placements, date)
    active = active[active[Col.child_id].isin(kids[Col.child_id])]
    counts = active[Col.placement_type].value_counts()
    return {
        "in_care": int(len(kids)),
        "with_placement": int(len(active)),
        "type_counts": {str(k): int(v) for k, v in counts.items()},
    }


def latest_need(ds: Dataset, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """Children assessed in a period and the mean of their latest total need.

    The same figure as a council's own needs profile
    (:func:`vc_eval.analysis.profile.latest_scores`: each child's latest review,
    :func:`vc_eval.core.population.latest_review`), so the comparison is like for like.
    """
    from vc_eval.analysis.profile import latest_scores

    snap = latest_scores(ds, period=(start, end))
    t = snap.scores[TOTAL_NEED]
    return {
        "children": int(len(t)),
        "mean": float(t.mean()) if len(t) else float("nan"),
    }


@dataclass
class AllCouncils:
    """Cross-council answers computed from a dataset in memory."""

    data: Dataset
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def metadata(self) -> dict:
        return self.data.metadata

    @property
    def framework(self):
        return self.data.framework

    @property
    def files(self) -> dict:
        return self.data.files

    def council_names(self) -> list[str]:
        return self.data.council_names()

    def snapshot_date(self) -> pd.Timestamp:
        return snapshot_date(self.data).normalize()

    def fingerprint(self) -> str:
        return self._get("fingerprint", self.data.fingerprint)

    def local(self, council: str) -> Dataset:
        return self.data.subset(council)

    def others(self, council: str) -> Dataset | None:
        """Every council but ``council`` (a comparison population), or None if there is none."""
        names = [c for c in self.council_names() if c != council]
        return self.data.subset(names) if names else None

    def subset(self, councils: list[str]) -> Dataset:
        """The councils ``councils`` (rows in the data's order)."""
        return self.data.subset(councils)

    def never_adopters(self) -> list[str]:
        """Councils that never adopted the programme, in name order."""
        return never_adopters(self.data)

    def placement_snapshot(self, date: pd.Timestamp) -> dict:
        return self._get(f"place_{date.date()}", lambda: placement_snapshot(self.data, date))

    def latest_need(self, start: pd.Timestamp, end: pd.Timestamp) -> dict:
        key = f"need_{_period_key(start, end)}"
        return self._get(key, lambda: latest_need(self.data, start, end))

    def series(self, end: pd.Timestamp) -> pd.DataFrame:
        """Council x month series of every council ."""
        from vc_eval.analysis.impact import council_series

        return self._get(
            f"series_{end.date()}",
            lambda: council_series(self.data, "MS", end=end, progress=False),
        )

    def spend_snapshot(self, at: pd.Timestamp, lookback_days: int) -> pd.DataFrame:
        """Every council's children in care on ``at`` with their need profile
        (:func:`vc_eval.analysis.spend.snapshot_frame`)."""
        return self._get(
            f"snapshot_{pd.Timestamp(at).date()}_{lookback_days}",
            lambda: spend_snapshot(self.data, at, lookback_days),
        )

    def others_snapshot(self, council: str, at: pd.Timestamp, lookback_days: int):
        """:meth:`spend_snapshot` without ``council``'s children (None: no other council)."""
        return _without(self.spend_snapshot(at, lookback_days), council, self.council_names())

    def impact_groups(self) -> dict:
        """Council series by age group and need band at entry (see :func:`impact_groups`)."""
        return self._get("impact_groups", lambda: impact_groups(self.data))

    def programme_comparison(self) -> dict | None:
        """The never-adopters' rows of the programme's outcome models
        (see :func:`programme_comparison`)."""
        return self._get("programme_comparison", lambda: programme_comparison(self.data))

    def _get(self, key: str, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


def never_adopters(ds: Dataset) -> list[str]:
    """Councils of ``ds`` with no programme start, in name order."""
    cs = ds.councils
    return sorted(cs.loc[cs[Col.programme_start].isna(), Col.council].astype(str))


def spend_snapshot(ds: Dataset, at: pd.Timestamp, lookback_days: int) -> pd.DataFrame:
    """Children of ``ds`` in care on ``at`` with their latest need profile.

    One row per child, computed child by child
    (:func:`vc_eval.analysis.spend.snapshot_frame`), so the other councils'
    rows are the same whether computed from them alone or from everyone
    (tested): a batch computes it once for all its reports.
    """
    from vc_eval.analysis.spend import snapshot_frame

    return snapshot_frame(ds, at=at, lookback_days=lookback_days)


def programme_comparison(everyone: Dataset) -> dict | None:
    """The rows of the councils that never adopted, as the programme's outcome models take
    them (:func:`vc_eval.analysis.outcomes.programme_rows`; None: every council adopted).

    An adopting council's outcome comparison is its own rows followed by these
    (``programme_outcomes(local, comparison=...)``): the same rows, in the same
    order, as the council and the never-adopters put together (tested), so a
    batch makes them once.
    """
    return _comparison_rows(everyone.subset, never_adopters(everyone))


def _comparison_rows(subset, never: list[str]) -> dict | None:
    from vc_eval.analysis.outcomes import programme_rows

    return programme_rows(subset(never)) if never else None


def _without(snapshot: pd.DataFrame, council: str, names: list[str]) -> pd.DataFrame | None:
    if all(c == council for c in names):
        return None
    return snapshot[snapshot[Col.council] != council].reset_index(drop=True)


def impact_groups(everyone: Dataset) -> dict:
    """Council series by age group and need band at entry: the impact section's breakdowns.

    They do not depend on the council a report is about. ``{"age": ..., "need": ...}``
    as :func:`vc_eval.analysis.impact.section.impact_result` takes them (a
    ``ValueError`` in place of a breakdown that cannot be built).
    """
    from vc_eval.analysis.impact.sensitivity import group_series

    groups: dict = {}
    for by in ("age", "need"):
        try:
            groups[by] = group_series(everyone, by)
        except ValueError as err:
            groups[by] = err
    return groups


#: Every council's tables of the cache entry used last in this process (see
#: ``CachedCouncils.others``): a batch worker reads them once, not once per report.
_EVERYONE: dict = {}


@dataclass
class CachedCouncils:
    """Cross-council answers read from a cache folder made by :func:`prepare_cache`.

    Anything the cache does not hold (a period it was not prepared for)
    falls back to loading the full dataset, so answers never differ.
    """

    folder: Path
    data_dir: Path
    framework_spec: str | None = None
    _meta: dict = field(default_factory=dict, repr=False)
    _full: AllCouncils | None = field(default=None, repr=False)

    @classmethod
    def open(cls, cache_dir: str | Path, data_dir: str | Path, framework: str | None = None):
        """The cache entry for ``data_dir``, or None when there is none yet."""
        folder = Path(cache_dir) / cache_key(data_dir)
        meta_file = folder / "meta.json"
        if not meta_file.exists():
            return None
        out = cls(folder, Path(data_dir), framework or None)
        out._meta = json.loads(meta_file.read_text())
        return out

    @property
    def metadata(self) -> dict:
        return self._meta["metadata"]

    @property
    def files(self) -> dict:
        return {k: self.data_dir / v for k, v in self._meta["files"].items()}

    def council_names(self) -> list[str]:
        return list(self._meta["councils"])

    def snapshot_date(self) -> pd.Timestamp:
        return pd.Timestamp(self._meta["snapshot_date"])

    def fingerprint(self) -> str:
        return self._meta["fingerprint"]

    def local(self, council: str) -> Dataset:
        folder = self.folder / "councils" / council_slug(council)
        if not (folder / f"{CHILDREN}.parquet").exists():
            return self._fallback().local(council)
        return self._load(folder)

    def others(self, council: str) -> Dataset | None:
        """Every council but ``council`` (a comparison population), or None if there is none.

        The councils' tables one after another in name order, as
        ``concat([local(c) for c in others])``; read once per process (a batch
        worker reads them once for all its reports) and a fresh copy each call.
        """
        names = [c for c in self.council_names() if c != council]
        if not names:
            return None
        everyone = self._everyone()
        if everyone is None:
            return concat([self.local(c) for c in names])
        # filtering the councils' tables in name order keeps the concatenation's rows and order
        return everyone.subset(names)

    def subset(self, councils: list[str]) -> Dataset:
        """The councils ``councils``, rows in the order of their folders read in name order."""
        everyone = self._everyone()
        if everyone is None:
            return concat([self.local(c) for c in sorted(councils)])
        return everyone.subset(councils)

    def never_adopters(self) -> list[str]:
        """Councils that never adopted the programme, in name order (kept in the entry)."""
        if not self._all_cached():
            return never_adopters(self._fallback().data)
        return self._derived("never_adopters", lambda: never_adopters(self._everyone()))

    def programme_comparison(self) -> dict | None:
        """:func:`programme_comparison`, kept in the entry."""
        if not self._all_cached():
            # the never-adopters as this cache gives them (their folders in name order)
            return _comparison_rows(self.subset, self.never_adopters())
        return self._derived("programme_comparison", lambda: programme_comparison(self._everyone()))

    def impact_groups(self) -> dict | None:
        """:func:`impact_groups`, kept in the entry (None when not every council is cached)."""
        if not self._all_cached():
            return None
        return self._derived("impact_groups", lambda: impact_groups(self._everyone()))

    def spend_snapshot(self, at: pd.Timestamp, lookback_days: int) -> pd.DataFrame | None:
        """:func:`spend_snapshot` of every council, kept in the entry (None: not all cached)."""
        if not self._all_cached():
            return None
        name = f"snapshot_{pd.Timestamp(at).date()}_{lookback_days}"
        return self._derived(name, lambda: spend_snapshot(self._everyone(), at, lookback_days))

    def others_snapshot(self, council: str, at: pd.Timestamp, lookback_days: int):
        """:meth:`spend_snapshot` without ``council``'s children (None: no other council)."""
        snap = self.spend_snapshot(at, lookback_days)
        if snap is None:
            return self._fallback().others_snapshot(council, at, lookback_days)
        return _without(snap, council, self.council_names())

    def _derived(self, name: str, build):
        """What ``build`` computes from every council, kept in the entry under the code's
        fingerprint (and in this process); a fresh copy of its frames each call."""
        memo = _EVERYONE.setdefault("derived", {})
        f = self.folder / "derived" / code_fingerprint()[:16] / f"{name}.pickle"
        # keyed by the file: a process may read more than one entry (or framework)
        key = (str(f.resolve()), self.framework_spec)
        if key not in memo:
            value = _load_pickle(f)
            if value is None:
                value = build()
                _save_pickle(f, value)  # a read-only cache still answers
            memo[key] = value
        return _copied(memo[key])

    def _all_cached(self) -> bool:
        """Every council's tables are in the entry (without reading them)."""
        if (self.folder / EVERYONE / f"{CHILDREN}.parquet").exists():
            return True
        folders = [self.folder / "councils" / council_slug(c) for c in self.council_names()]
        return all((f / f"{CHILDREN}.parquet").exists() for f in folders)

    def _everyone(self) -> Dataset | None:
        """Every council's cached tables, concatenated in name order (None: not all cached)."""
        key = (str(self.folder.resolve()), self.framework_spec)
        if _EVERYONE.get("key") != key:
            whole = self.folder / EVERYONE
            if (whole / f"{CHILDREN}.parquet").exists():
                data = self._load(whole)
            else:
                names = self.council_names()
                folders = [self.folder / "councils" / council_slug(c) for c in names]
                if not all((f / f"{CHILDREN}.parquet").exists() for f in folders):
                    return None
                data = concat([self.local(c) for c in names])
            _EVERYONE.clear()  # one dataset kept per process: the latest one asked for
            _EVERYONE.update(key=key, data=data)
        return _EVERYONE["data"]

    def _load(self, folder: Path) -> Dataset:
        from vc_eval.core.framework import load_framework

        fw = load_framework(self.framework_spec) if self.framework_spec else None
        # Validated as part of the whole dataset when the cache was made.
        ds = Dataset.load(folder, framework=fw, validate=False)
        ds.files = self.files
        return ds

    def placement_snapshot(self, date: pd.Timestamp) -> dict:
        hit = self._meta.get("placement", {}).get(str(pd.Timestamp(date).date()))
        return hit if hit is not None else self._fallback().placement_snapshot(date)

    def latest_need(self, start: pd.Timestamp, end: pd.Timestamp) -> dict:
        hit = self._meta.get("need", {}).get(_period_key(start, end))
        return hit if hit is not None else self._fallback().latest_need(start, end)

    def series(self, end: pd.Timestamp) -> pd.DataFrame:
        f = self.folder / f"series_{pd.Timestamp(end).date()}.parquet"
        if not f.exists():
            return self._fallback().series(end)
        s = pd.read_parquet(f)
        s.attrs.update(self._meta.get("series_attrs", {}))
        return s

    def _fallback(self) -> AllCouncils:
        if self._full is None:
            from vc_eval.core.framework import load_framework

            fw = load_framework(self.framework_spec) if self.framework_spec else None
            self._full = AllCouncils(Dataset.load(self.data_dir, framework=fw))
        return self._full


def _copied(value):
    """``value`` with every frame in it copied (callers may change them)."""
    if isinstance(value, pd.DataFrame):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return list(value)
    return value


def default_period(end_default: pd.Timestamp, start: str = "", end: str = ""):
    """The report's period: ``end`` (default the data's last date) and 12 months before."""
    e = pd.Timestamp(end).normalize() if end else end_default
    s = (
        pd.Timestamp(start).normalize()
        if start
        else e - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    )
    return s, e


def prepare_cache(
    data_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    councils: list[str] | None = None,
    periods: list[tuple[str, str]] = (("", ""),),
    series: bool = True,
    shared: bool = False,
) -> Path:
    """Load ``data_dir`` once and write what the councils' reports need from it.

    Parameters
    ----------
    data_dir : path
        Dataset folder (validated here, once).
    cache_dir : path, optional
        Cache root (default :func:`default_cache_dir`: beside the data).
    councils : list of str, optional
        Councils whose tables to write (default all).
    periods : list of (start, end)
        Report periods (strings, "" for the defaults) whose cross-council
        figures to compute.
    series : bool
        Also compute the council x month series for impact designs.
    shared : bool
        Also compute, once, what every council's report takes from all the
        others (:meth:`CachedCouncils.spend_snapshot` for each period,
        :meth:`CachedCouncils.impact_groups`), so a batch's workers do not
        each compute it. Otherwise the first report that needs them does.

    Returns
    -------
    Path
        The cache entry folder.
    """
    root = Path(cache_dir) if cache_dir else default_cache_dir(data_dir)
    if root is None:
        raise ValueError(f"{data_dir}: cannot write a cache beside read-only data; give cache_dir")
    _mark(root)
    folder = root / cache_key(data_dir)
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    ds = None

    def full() -> Dataset:
        nonlocal ds
        if ds is None:
            ds = Dataset.load(data_dir)
        return ds

    names = meta.get("councils") or full().council_names()
    wanted = list(names if councils is None else councils)
    missing = [
        c
        for c in wanted
        if not (folder / "councils" / council_slug(c) / f"{CHILDREN}.parquet").exists()
    ]
    if missing:
        _split(full(), missing, folder / "councils", Path(data_dir))
    if councils is None and not (folder / EVERYONE / f"{CHILDREN}.parquet").exists():
        _write_everyone(full(), folder / EVERYONE, Path(data_dir))
    if not meta:
        d = full()
        meta = {
            "councils": d.council_names(),
            "snapshot_date": str(snapshot_date(d).normalize().date()),
            "fingerprint": d.fingerprint(),
            "metadata": d.metadata,
            "files": {k: Path(v).name for k, v in d.files.items()},
            "placement": {},
            "need": {},
        }
    end_default = pd.Timestamp(meta["snapshot_date"])
    for start, end in periods:
        s, e = default_period(end_default, start, end)
        if str(e.date()) not in meta["placement"]:
            meta["placement"][str(e.date())] = placement_snapshot(full(), e)
        if _period_key(s, e) not in meta["need"]:
            meta["need"][_period_key(s, e)] = latest_need(full(), s, e)
        f = folder / f"series_{e.date()}.parquet"
        if series and not f.exists():
            from vc_eval.analysis.impact import council_series

            sr = council_series(full(), "MS", end=e, progress=False)
            meta["series_attrs"] = {
                k: v for k, v in sr.attrs.items() if isinstance(v, str | int | float)
            }
            sr.attrs = {}
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_file(f, "wb") as fh:
                sr.to_parquet(fh, index=False)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(meta_file) as fh:
        json.dump(meta, fh, indent=1, default=_json_default)
    if shared and councils is None:
        ends = [default_period(end_default, *p) for p in periods]
        _share(CachedCouncils.open(root, data_dir), ends)
    return folder


def _share(allc: CachedCouncils, periods: list[tuple[pd.Timestamp, pd.Timestamp]]) -> None:
    """Compute and keep what every report takes from all councils (see ``prepare_cache``)."""
    from vc_eval.analysis.spend import LOOKBACK_DAYS

    try:
        for _, end in periods:
            allc.spend_snapshot(end, LOOKBACK_DAYS)
        never = allc.never_adopters()
        if never != allc.council_names():
            allc.impact_groups()
            if never:
                allc.programme_comparison()
    finally:
        _EVERYONE.clear()  # the workers read them from the entry; this process needs no copy


def _json_default(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, pd.Timestamp):
        return str(o)
    raise TypeError(type(o).__name__)


def _council_of_rows(ds: Dataset, name: str) -> pd.Series:
    """The council of each row of table ``name``."""
    frame = ds.tables[name]
    if Col.council in frame:
        return frame[Col.council]
    return frame[Col.child_id].map(ds.children.set_index(Col.child_id)[Col.council])


def _write_everyone(ds: Dataset, target: Path, data_dir: Path) -> None:
    """Every council's tables in one folder, councils in name order.

    The same rows in the same order as the councils' own folders read one
    after another (what :meth:`CachedCouncils.others` filters), so reading it
    back is one load instead of one per council.
    """
    rank = {c: i for i, c in enumerate(sorted(ds.council_names()))}
    tables = {}
    for name, frame in ds.tables.items():
        key = _council_of_rows(ds, name).map(rank).to_numpy(dtype=float)
        order = np.argsort(key, kind="stable")
        tables[name] = frame.iloc[order[~np.isnan(key[order])]].reset_index(drop=True)
    _write_tables(tables, target, ds.metadata, data_dir)


def _write_tables(tables: dict, target: Path, metadata: dict, data_dir: Path) -> None:
    """Tables to ``target`` as Parquet, with the dataset's metadata and framework file."""
    fw_file = data_dir / "framework.yaml"
    with atomic_dir(target) as tmp:
        for name, frame in tables.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "dataset.json").write_text(
            json.dumps(metadata, indent=1, default=_json_default) + "\n"
        )
        if fw_file.exists():
            shutil.copyfile(fw_file, tmp / fw_file.name)


def _split(ds: Dataset, councils: list[str], out: Path, data_dir: Path) -> None:
    """Write each council's tables to ``out/<slug>/`` in one pass over the data.

    The data folder's own framework file, if any, goes with them.
    """
    wanted = set(councils)
    parts: dict[str, dict[str, pd.DataFrame]] = {c: {} for c in councils}
    for name, frame in ds.tables.items():
        key = _council_of_rows(ds, name)
        mask = key.isin(wanted).to_numpy()
        for c, g in frame[mask].groupby(key[mask].to_numpy(), sort=False):
            parts[str(c)][name] = g.reset_index(drop=True)
    for c in councils:
        tables = {name: parts[c].get(name, f.iloc[0:0]) for name, f in ds.tables.items()}
        _write_tables(tables, out / council_slug(c), ds.metadata, data_dir)


# --------------------------------------------------------------------------
# Finished pages: a council's audited report, kept so a rerun is not recomputed
# --------------------------------------------------------------------------

#: Libraries whose versions can change a page's numbers or figures (part of the page key).
_PAGE_LIBRARIES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "seaborn")
#: Folder of finished pages inside a cache entry.
PAGES_FOLDER = "pages"


@functools.cache
def code_fingerprint() -> str:
    """sha256 over every file of the installed ``vc_eval`` package and the library versions.

    Any change to the code (or to numpy, pandas, scipy, statsmodels,
    matplotlib, seaborn) gives a new fingerprint, so a stored page is only
    reused by exactly the code that made it.
    """
    from importlib.metadata import PackageNotFoundError, version

    here = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(here.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            h.update(p.relative_to(here).as_posix().encode() + b"\0")
            h.update(p.read_bytes())
    for lib in _PAGE_LIBRARIES:
        try:
            h.update(f"{lib}={version(lib)}\n".encode())
        except PackageNotFoundError:
            h.update(f"{lib}=none\n".encode())
    return h.hexdigest()


def page_key(parameters: dict) -> str:
    """Key of a finished page: its parameters (council, period, seed, dpi...) and the code.

    The cache entry it lives in is already keyed by the input files
    (:func:`cache_key`), so the same key means the same inputs, parameters
    and code: a page computed again would be byte for byte the same. The key
    is ``<parameters>-<code>`` (hash prefixes), so a page made by other code
    for the same parameters is replaced, not kept beside it.
    """
    text = json.dumps(parameters, sort_keys=True, default=str)
    params = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"{params}-{code_fingerprint()[:32]}"


@dataclass
class RenderedFigure(FigureOut):
    """A figure with its PNG already rendered (what a stored page keeps instead of the figure).

    ``rendered`` maps dpi to PNG bytes; :meth:`png` renders (and keeps) any
    other resolution while the matplotlib figure is still at hand.
    """

    rendered: dict = field(default_factory=dict)

    @classmethod
    def of(cls, fig: FigureOut, dpi: int) -> RenderedFigure:
        """``fig`` with its PNG at ``dpi`` rendered now."""
        # every field of the figure (alt text, caption, any declared counts), PNG added
        out = cls(**{f.name: getattr(fig, f.name) for f in fields(FigureOut)})
        out.rendered = dict(getattr(fig, "rendered", {}))
        if int(dpi) not in out.rendered:
            out.rendered[int(dpi)] = fig.png(dpi)
        return out

    def png(self, dpi: int = 90) -> bytes:
        if dpi not in self.rendered:
            if self.figure is None:
                raise ValueError(
                    f"this stored figure was rendered at {sorted(self.rendered)} dpi, not {dpi}"
                )
            self.rendered[dpi] = super().png(dpi)
        return self.rendered[dpi]

    def close(self) -> None:
        if self.figure is not None:
            super().close()

    def __getstate__(self) -> dict:
        # the PNGs travel; the matplotlib figure does not
        return {**self.__dict__, "figure": None}


def has_page(folder: str | Path | None, key: str) -> bool:
    """Whether a finished page is stored under ``key`` in a cache entry."""
    return folder is not None and (Path(folder) / PAGES_FOLDER / f"{key}.pickle").exists()


def load_page(folder: str | Path | None, key: str) -> dict | None:
    """The finished page stored under ``key`` in a cache entry, or None.

    An unreadable entry (e.g. one cut short) is ignored and recomputed.
    """
    if folder is None:
        return None
    return _load_pickle(Path(folder) / PAGES_FOLDER / f"{key}.pickle")


def save_page(folder: str | Path | None, key: str, page: dict) -> None:
    """Store a finished page under ``key`` (atomically; nothing half-written)."""
    if folder is None:
        return
    target = Path(folder) / PAGES_FOLDER
    if _save_pickle(target / f"{key}.pickle", page):
        # the same report made by other code is stale: keep one page per parameters
        params = key.split("-")[0]
        for old in target.glob(f"{params}-*.pickle"):
            if old.name != f"{key}.pickle":
                old.unlink(missing_ok=True)


def _load_pickle(f: Path):
    """What :func:`_save_pickle` wrote to ``f``, or None (missing, or unreadable: an entry
    cut short is recomputed)."""
    if not f.exists():
        return None
    try:
        with f.open("rb") as fh:
            # written by this module into a cache entry beside the data, under the data's
            # own access controls (whoever can write there can also change the data)
            return pickle.load(fh)
    except Exception as err:  # noqa: BLE001 - any damaged entry is simply recomputed
        log.info("stored %s not used: %s: %s", f.name, type(err).__name__, err)
        return None


def _save_pickle(f: Path, value) -> bool:
    """Keep ``value`` in ``f`` (atomically); False when it could not be (it only costs the
    next run time)."""
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(f, "wb", private=True) as fh:  # may hold row-level data
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return True
    except Exception as err:  # noqa: BLE001 - see above
        log.info("%s not stored: %s: %s", f.name, type(err).__name__, err)
        return False


__all__ = [
    "AllCouncils",
    "CachedCouncils",
    "RenderedFigure",
    "code_fingerprint",
    "has_page",
    "load_page",
    "page_key",
    "save_page",
    "cache_info",
    "cache_key",
    "clear_cache",
    "default_cache_dir",
    "latest_need",
    "placement_snapshot",
    "prepare_cache",
]
