"""Export a dataset as a council would hold it: SSDA903 CSVs, needs extract, costs.

The inverse of :mod:`vc_eval.ingest.importer`, used to test the importer on
synthetic data (round trip) and to benchmark it at national scale. The
export follows the real formats:

* ``ssda903/<YYYY-YY>/`` one folder per collection year (to 31 March), with
  ``header.csv``, ``episodes.csv``, ``reviews.csv``, ``oc2.csv`` and
  ``missing.csv`` in the DfE column layout. An episode appears in every year
  it is open, with DEC and REC blank while it is still open at the year end,
  exactly the overlap the importer merges.
* ``needs_extract.csv`` (long: one row per child x assessment x domain, or
  wide) with council-style column names and domain *names*, plus
  ``needs_mapping.yaml`` telling the importer which column is which.
* ``costs.csv``: child, placement start, weekly cost (optionally for only a
  share of placements, so the rest are imputed on import).

Each placement is one episode (legal status C2, RNE S at entry and P at each
move, REC X1 when the next placement starts the same day, else E8). Placement
types map to one PLACE + PLACE_PROVIDER code each (:data:`TYPE_CODES`), and
provider ids are written as URNs. Postcodes and UPNs are filled with
obviously fake values so tests can check they never reach a dataset.

What cannot survive the trip (the importer's tests document each): outcomes
the SSDA903 does not carry (school attendance, exclusions), sub-need scores,
children without placements, and ``placement_moves``/``missing_episodes``
rows for years before the first exported year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vc_eval.core.dataset import Dataset
from vc_eval.core.files import atomic_dir
from vc_eval.core.population import SECOND_SCORING_DAYS
from vc_eval.core.schema import Col
from vc_eval.ingest.ssda903 import TABLES, year_end, year_of

#: Placement type -> (PLACE, PLACE_PROVIDER) written for it.
TYPE_CODES: dict[str, tuple[str, str]] = {
    "in_house_foster": ("U4", "PR1"),
    "ifa_foster": ("U4", "PR4"),
    "kinship": ("U1", "PR1"),
    "childrens_home": ("K2", "PR4"),
    "supported_accommodation": ("H5", "PR4"),
    "placed_with_parents": ("P1", "PR0"),
    "secure": ("K1", "PR1"),
    "other": ("Z1", "PR0"),
}
#: Ethnic group -> the ETHNIC code written for it.
ETHNIC_CODES: dict[str, str] = {
    "White": "WBRI",
    "Mixed": "MOTH",
    "Asian": "AOTH",
    "Black": "BOTH",
    "Other": "OOTH",
    "Not recorded": "NOBT",
}
SEX_OUT = {"male": "1", "female": "2"}
#: OC2 column -> outcome measure read from it.
OC2_COLUMNS = {
    "SDQ_SCORE": "sdq_total",
    "CONVICTED": "offending",
    "SUBSTANCE_MISUSE": "substance_misuse",
}
FAKE_POSTCODE = "ZZ99 3VZ"
#: Assessments within this many days after the child's previous one are
#: second opinions, not reviews, and are left out of reviews.csv.
SECOND_OPINION_DAYS = SECOND_SCORING_DAYS

NEEDS_COLUMNS = {
    "child_id": "Child ID",
    "date": "Review date",
    "assessor": "Worker",
    "domain": "Need domain",
    "score": "Score",
}


@dataclass
class ExportResult:
    """Where an export was written and what it holds."""

    folder: Path
    ssda903: Path
    years: list[int]
    needs: Path | None
    needs_config: Path | None
    costs: Path | None
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        c = self.counts
        return (
            f"Exported {c.get('children', 0):,} children to {self.folder}: SSDA903 for "
            f"{len(self.years)} years ({self.years[0]}-{self.years[-1]}), "
            f"{c.get('episodes', 0):,} episode rows, {c.get('needs_rows', 0):,} needs "
            f"rows, {c.get('cost_rows', 0):,} cost rows."
        )


def _fmt(dates: pd.Series, style: str) -> pd.Series:
    """Dates as text; each distinct date formatted once (long tables repeat them)."""
    fmt = "%d/%m/%Y" if style == "dfe" else "%Y-%m-%d"
    dates = pd.Series(dates, copy=False)
    codes, uniques = pd.factorize(dates, use_na_sentinel=True)
    text = pd.Series(pd.DatetimeIndex(uniques).strftime(fmt), dtype=object).to_numpy()
    out = np.full(len(dates), "", dtype=object)
    ok = codes >= 0
    out[ok] = text[codes[ok]]
    return pd.Series(out, index=dates.index)


def year_label(year: int, style: str = "range") -> str:
    """Folder name of a collection year (to 31 March ``year``).

    ``"range"``: 2022 -> ``2021-22``; ``"start"``: 2022 -> ``2021``, the year
    the collection starts, as several published tools name their folders.
    """
    if style == "start":
        return str(year - 1)
    if style != "range":
        raise ValueError("year folder style must be 'range' or 'start'")
    return f"{year - 1}-{str(year)[-2:]}"


def export_dataset(
    ds: Dataset,
    out: str | Path,
    *,
    council: str | None = None,
    years: list[int] | None = None,
    needs_layout: str = "long",
    date_style: str = "dfe",
    cost_share: float = 1.0,
    seed: int = 0,
    progress: bool | None = None,
    year_folders: str = "range",
) -> ExportResult:
    """Write ``ds`` (or one council of it) as SSDA903 CSVs + needs + costs.

    Parameters
    ----------
    ds : Dataset
    out : path
        Folder to create (atomically).
    council : str, optional
        Export one council only (default: every child in ``ds``).
    years : list of int, optional
        Collection years (ending 31 March) to write; default from the year
        of the first placement start to the year of the latest date.
    needs_layout : {"long", "wide"}
    date_style : {"dfe", "iso"}
        dd/mm/YYYY (as the DfE files) or YYYY-MM-DD.
    cost_share : float
        Share of placements written to ``costs.csv`` (random, by ``seed``).
    year_folders : {"range", "start"}
        Year folder names: ``2021-22`` or ``2021`` (the year the collection
        starts) for the year to 31 March 2022 (see :func:`year_label`).
    """
    from vc_eval.core.progress import tqdm

    if needs_layout not in ("long", "wide"):
        raise ValueError("needs_layout must be 'long' or 'wide'")
    if date_style not in ("dfe", "iso"):
        raise ValueError("date_style must be 'dfe' or 'iso'")
    year_label(2000, year_folders)  # checks the style
    if council is not None:
        ds = ds.subset(council)
    kids = ds.children.reset_index(drop=True)
    pl = ds.placements.sort_values([Col.child_id, Col.start_date], kind="stable")
    pl = pl.reset_index(drop=True)
    a = ds.assessments
    oc = ds.outcomes
    if years is None:
        # placements and outcomes fix the last year: a stray late assessment must
        # not add a year of open episodes with nothing else in it
        last = max(
            d.max() for d in (pl[Col.start_date], pl[Col.end_date], oc[Col.date]) if d.notna().any()
        )
        years = list(
            range(
                int(year_of(pl[Col.start_date]).min()), int(year_of(pd.Series([last])).iloc[0]) + 1
            )
        )
    years = sorted(years)
    idx = {c: i for i, c in enumerate(kids[Col.child_id])}
    info = kids.set_index(Col.child_id)

    # episodes: one per placement
    same = pl[Col.child_id].eq(pl[Col.child_id].shift())
    prev_end = pl[Col.end_date].shift()
    next_start = pl[Col.start_date].shift(-1).where(pl[Col.child_id].eq(pl[Col.child_id].shift(-1)))
    codes = pl[Col.placement_type].map(TYPE_CODES)
    ep = pd.DataFrame(
        {
            "CHILD": pl[Col.child_id].to_numpy(),
            "start": pl[Col.start_date].to_numpy(),
            "end": pl[Col.end_date].to_numpy(),
            "RNE": np.where(same & prev_end.eq(pl[Col.start_date]), "P", "S"),
            "LS": "C2",
            "CIN": "N1",
            "PLACE": codes.str[0].to_numpy(),
            "PLACE_PROVIDER": codes.str[1].to_numpy(),
            "REC": np.where(next_start.eq(pl[Col.end_date]), "X1", "E8"),
            "REASON_PLACE_CHANGE": np.where(next_start.eq(pl[Col.end_date]), "CARPL", ""),
            "HOME_POST": FAKE_POSTCODE,
            "PL_POST": FAKE_POSTCODE,
            "URN": pl[Col.provider_id].fillna("XXXXXXX").to_numpy(),
        }
    )
    # reviews: assessment dates that are not second opinions
    visits = (
        a[[Col.child_id, Col.assessment_date]]
        .drop_duplicates()
        .sort_values([Col.child_id, Col.assessment_date])
    )
    gap = visits[Col.assessment_date].diff().dt.days
    second = visits[Col.child_id].eq(visits[Col.child_id].shift()) & (gap <= SECOND_OPINION_DAYS)
    reviews = visits.loc[~second.to_numpy()]

    out = Path(out)
    counts = {"children": 0, "episodes": 0, "needs_rows": 0, "cost_rows": 0}
    exported_kids: set = set()
    with atomic_dir(out, kind="ssda903-export") as tmp:
        root = tmp / "ssda903"
        for y in tqdm(
            years, desc="export years", disable=None if progress is None else not progress
        ):
            ys, ye = year_end(y - 1) + pd.Timedelta(days=1), year_end(y)
            folder = root / year_label(y, year_folders)
            folder.mkdir(parents=True)
            open_in = (ep["start"] <= ye) & (ep["end"].isna() | (ep["end"] >= ys))
            e = ep.loc[open_in.to_numpy()].copy()
            closed = e["end"].notna() & (e["end"] <= ye)
            e["DECOM"] = _fmt(e["start"], date_style)
            e["DEC"] = _fmt(e["end"].where(closed), date_style)
            e["REC"] = e["REC"].where(closed, "")
            e["REASON_PLACE_CHANGE"] = e["REASON_PLACE_CHANGE"].where(closed, "")
            e[list(TABLES["episodes"].columns)].to_csv(folder / "episodes.csv", index=False)
            ids = pd.Index(e["CHILD"].unique())
            exported_kids.update(ids)
            k = info.loc[ids]
            dob = _fmt(k[Col.date_of_birth], date_style)
            pd.DataFrame(
                {
                    "CHILD": ids,
                    "SEX": k[Col.sex].map(SEX_OUT).to_numpy(),
                    "DOB": dob.to_numpy(),
                    "ETHNIC": k[Col.ethnicity].map(ETHNIC_CODES).to_numpy(),
                    "UPN": ["A" + str(idx[c]).zfill(12) for c in ids],
                    "MOTHER": "",
                    "MC_DOB": "",
                }
            ).to_csv(folder / "header.csv", index=False)
            rv = reviews[
                (reviews[Col.assessment_date] >= ys) & (reviews[Col.assessment_date] <= ye)
            ]
            pd.DataFrame(
                {
                    "CHILD": rv[Col.child_id].to_numpy(),
                    "DOB": _fmt(
                        rv[Col.child_id].map(info[Col.date_of_birth]), date_style
                    ).to_numpy(),
                    "REVIEW": _fmt(rv[Col.assessment_date], date_style).to_numpy(),
                    "REVIEW_CODE": "PN1",
                }
            ).to_csv(folder / "reviews.csv", index=False)
            yo = oc[oc[Col.date] == ye]
            wide = yo[yo[Col.measure].isin(OC2_COLUMNS.values())].pivot_table(
                index=Col.child_id, columns=Col.measure, values=Col.value, aggfunc="first"
            )
            if len(wide):
                o2 = pd.DataFrame({"CHILD": wide.index})
                o2["DOB"] = _fmt(o2["CHILD"].map(info[Col.date_of_birth]), date_style)
                for col in TABLES["oc2"].columns[2:]:
                    m = OC2_COLUMNS.get(col)
                    v = wide[m] if m in wide else pd.Series(np.nan, index=wide.index)
                    o2[col] = v.map(lambda x: "" if pd.isna(x) else f"{x:g}").to_numpy()
                o2.to_csv(folder / "oc2.csv", index=False)
            mis = yo[yo[Col.measure] == "missing_episodes"]
            if len(mis):
                _missing_rows(mis, info, ys, ye, date_style).to_csv(
                    folder / "missing.csv", index=False
                )
            counts["episodes"] += len(e)
        counts["children"] = len(exported_kids)
        needs_file = needs_cfg = costs_file = None
        if len(a):
            needs_file, needs_cfg, counts["needs_rows"] = _write_needs(
                ds, tmp, needs_layout, date_style
            )
        rng = np.random.default_rng(seed)
        pick = rng.random(len(pl)) < cost_share
        # costs only for placements the exported returns hold
        first_start = year_end(years[0] - 1) + pd.Timedelta(days=1)
        pick &= (
            (pl[Col.start_date] <= year_end(years[-1]))
            & (pl[Col.end_date].isna() | (pl[Col.end_date] >= first_start))
        ).to_numpy()
        if pick.any():
            costs_file = tmp / "costs.csv"
            c = pl.loc[pick]
            pd.DataFrame(
                {
                    "CHILD": c[Col.child_id].to_numpy(),
                    "PLACEMENT_START": _fmt(c[Col.start_date], date_style).to_numpy(),
                    "WEEKLY_COST": c[Col.weekly_cost].to_numpy(),
                }
            ).to_csv(costs_file, index=False)
            counts["cost_rows"] = int(pick.sum())
    rel = {
        k: (out / v.relative_to(tmp) if v is not None else None)
        for k, v in (("n", needs_file), ("c", needs_cfg), ("k", costs_file))
    }
    return ExportResult(out, out / "ssda903", years, rel["n"], rel["c"], rel["k"], counts)


def _missing_rows(mis: pd.DataFrame, info: pd.DataFrame, ys, ye, style) -> pd.DataFrame:
    """``k`` missing episodes per child, spread evenly over its time in care in the year."""
    mis = mis[mis[Col.value] > 0]
    k = mis[Col.value].astype(int).to_numpy()
    child = np.repeat(mis[Col.child_id].to_numpy(), k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    kk = np.repeat(k, k)
    entered = pd.Series(child).map(info[Col.entered_care])
    dob = pd.Series(child).map(info[Col.date_of_birth])
    s0 = np.maximum(np.maximum(entered.to_numpy(), dob.to_numpy()), np.datetime64(ys, "ns"))
    span = (np.datetime64(ye, "ns") - s0).astype("timedelta64[D]").astype(int) + 1
    off = np.floor((j + 0.5) * span / kk).astype(int)
    start = pd.Series(s0 + off.astype("timedelta64[D]"))
    # episodes crowded onto one day (a short stay) differ in length, so no
    # two rows are exact duplicates
    end = start + pd.to_timedelta(1 + j, unit="D")
    return pd.DataFrame(
        {
            "CHILD": child,
            "DOB": _fmt(dob, style).to_numpy(),
            "MISSING": "M",
            "MIS_START": _fmt(start, style).to_numpy(),
            "MIS_END": _fmt(end, style).to_numpy(),
        }
    )


def _write_needs(ds: Dataset, tmp: Path, layout: str, style: str):
    a = ds.assessments
    names = {d.id: d.name for d in ds.framework.domains}
    n = NEEDS_COLUMNS
    if layout == "long":
        frame = pd.DataFrame(
            {
                n["child_id"]: a[Col.child_id].to_numpy(),
                n["date"]: _fmt(a[Col.assessment_date], style).to_numpy(),
                n["assessor"]: a[Col.assessor_id].to_numpy(),
                n["domain"]: a[Col.domain].map(names).to_numpy(),
                n["score"]: a[Col.score].to_numpy(),
            }
        )
        config = {
            "child_id": n["child_id"],
            "date": n["date"],
            "assessor": n["assessor"],
            "domain": n["domain"],
            "score": n["score"],
            "domain_values": {v: k for k, v in names.items()},
        }
    else:
        keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
        wide = a.pivot_table(
            index=keys, columns=Col.domain, values=Col.score, aggfunc="first", observed=True
        ).reset_index()
        doms = [d for d in ds.framework.all_domain_ids if d in wide.columns]
        frame = pd.DataFrame(
            {
                n["child_id"]: wide[Col.child_id].to_numpy(),
                n["date"]: _fmt(wide[Col.assessment_date], style).to_numpy(),
                n["assessor"]: wide[Col.assessor_id].to_numpy(),
                **{names[d]: wide[d].to_numpy() for d in doms},
            }
        )
        config = {
            "child_id": n["child_id"],
            "date": n["date"],
            "assessor": n["assessor"],
            "domains": {names[d]: d for d in doms},
        }
    path = tmp / "needs_extract.csv"
    frame.to_csv(path, index=False)
    cfg = tmp / "needs_mapping.yaml"
    cfg.write_text(
        "# Column mapping of needs_extract.csv for vc-eval import --needs-config\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )
    return path, cfg, len(frame)


__all__ = ["ETHNIC_CODES", "ExportResult", "TYPE_CODES", "export_dataset", "year_label"]
