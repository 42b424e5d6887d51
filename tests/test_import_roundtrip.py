"""Round trip: a dataset exported as a council would hold it, imported again.

``export_dataset`` writes SSDA903 CSVs (one folder per collection year, open
episodes repeated in every year), a needs extract with its YAML mapping and
a costs file; ``import_council`` must give back the same tables, with ids
mapped through the same keyed hash. What cannot survive the trip, and is
checked as such here:

* outcomes the SSDA903 does not carry (``school_attendance``, ``exclusion``);
* ``placement_moves`` is derived on import for every exported year, so the
  import also has rows for years before the synthetic observation window;
* the synthetic generator counts moves over the 365 days to 31 March, the
  importer over the collection year (1 April to 31 March): in a year ending
  in a leap February they differ for a placement starting on 1 April;
* weekly costs not exported (``cost_share`` < 1) come back imputed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vc_eval.core.costs import DEFAULT_UNIT_COSTS, PROVIDER_FACTORS
from vc_eval.core.dataset import Dataset
from vc_eval.core.schema import Col
from vc_eval.ingest.importer import import_council
from vc_eval.ingest.pseudonymise import Pseudonymiser
from vc_eval.synthetic.ssda903_export import TYPE_CODES, export_dataset, year_label

KEY = b"round-trip-key-of-at-least-16-bytes"


def _pseudonymised(ds: Dataset, council: str) -> dict[str, pd.DataFrame]:
    """The original tables with ids replaced as the importer replaces them."""
    ps = Pseudonymiser(KEY, council)
    out = {}
    for name, frame in ds.tables.items():
        f = frame.copy()
        for col, kind in (
            (Col.child_id, "child"),
            (Col.assessor_id, "assessor"),
            (Col.provider_id, "provider"),
        ):
            if col in f:
                f[col] = ps.series(f[col], kind)
        out[name] = f
    return out


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _roundtrip(ds: Dataset, tmp_path, council: str, **export_kw):
    exp = export_dataset(ds, tmp_path / "export", council=council, **export_kw)
    res = import_council(
        [exp.ssda903],
        council=council,
        key=KEY,
        needs=exp.needs,
        needs_config=exp.needs_config,
        costs=exp.costs,
        programme_start=ds.councils.set_index(Col.council).loc[council, Col.programme_start],
        progress=False,
    )
    return exp, res


def _tiny_dataset() -> Dataset:
    """Three children: a move, a step down and left care, two periods in care."""
    d = pd.Timestamp
    children = pd.DataFrame(
        {
            Col.child_id: ["C1", "C2", "C3"],
            Col.council: "Tinyvale",
            Col.sex: ["male", "female", "male"],
            Col.date_of_birth: [d("2010-03-04"), d("2008-01-20"), d("2012-09-09")],
            Col.ethnicity: ["White", "Asian", "Black"],
            Col.entered_care: [d("2019-06-01"), d("2018-02-10"), d("2019-01-05")],
            Col.left_care: [pd.NaT, d("2020-08-15"), d("2021-01-01")],
        }
    )
    placements = pd.DataFrame(
        {
            Col.child_id: ["C1", "C1", "C2", "C2", "C3", "C3"],
            Col.start_date: [
                d("2019-06-01"),
                d("2020-04-01"),
                d("2018-02-10"),
                d("2019-03-01"),
                d("2019-01-05"),
                d("2020-02-01"),
            ],
            Col.end_date: [
                d("2020-04-01"),
                pd.NaT,
                d("2019-03-01"),
                d("2020-08-15"),
                d("2019-07-01"),
                d("2021-01-01"),
            ],
            Col.placement_type: [
                "in_house_foster",
                "ifa_foster",
                "childrens_home",
                "supported_accommodation",
                "kinship",
                "placed_with_parents",
            ],
            Col.provider_id: ["TIN-FOSTER", "IFA001", "CH007", "SA002", None, None],
            Col.weekly_cost: [550.5, 830.25, 4890.0, 1600.0, 310.0, 95.0],
            Col.cost_imputed: False,
        }
    )
    assessments = pd.DataFrame(
        {
            Col.child_id: ["C1", "C1", "C1", "C2", "C3"],
            Col.assessment_date: [
                d("2019-06-28"),
                d("2019-06-28"),
                d("2019-07-05"),
                d("2019-09-01"),
                d("2020-03-01"),
            ],
            Col.assessor_id: ["SW1", "SW1", "SW2", "SW1", "SW3"],
            Col.domain: ["attachment", "behaviour", "attachment", "education", "adulthood"],
            Col.score: [41.5, 60.0, 44.0, 12.3, 0.0],
        }
    )
    r = {y: d(f"{y}-03-31") for y in (2018, 2019, 2020, 2021)}
    outcomes = pd.DataFrame(
        [
            ("C2", r[2018], "placement_moves", 0.0),
            ("C2", r[2019], "placement_moves", 1.0),
            ("C3", r[2019], "placement_moves", 0.0),
            ("C1", r[2020], "placement_moves", 0.0),
            ("C2", r[2020], "placement_moves", 0.0),
            ("C3", r[2020], "placement_moves", 1.0),
            ("C1", r[2021], "placement_moves", 1.0),
            ("C1", r[2021], "missing_episodes", 2.0),
            ("C1", r[2021], "sdq_total", 12.0),
            ("C2", r[2019], "offending", 1.0),
        ],
        columns=[Col.child_id, Col.date, Col.measure, Col.value],
    )
    councils = pd.DataFrame({Col.council: ["Tinyvale"], Col.programme_start: [d("2020-01-01")]})
    return Dataset.from_frames(
        councils=councils,
        children=children,
        assessments=assessments,
        placements=placements,
        outcomes=outcomes,
    )


KEYS = {
    "councils": [Col.council],
    "children": [Col.child_id],
    "placements": [Col.child_id, Col.start_date],
    "assessments": [Col.child_id, Col.assessment_date, Col.assessor_id, Col.domain],
    "outcomes": [Col.child_id, Col.date, Col.measure],
}


@pytest.mark.parametrize("layout,dates", [("long", "dfe"), ("wide", "iso")])
def test_hand_made_dataset_round_trips_exactly(tmp_path, layout, dates):
    ds = _tiny_dataset()
    exp, res = _roundtrip(ds, tmp_path, "Tinyvale", needs_layout=layout, date_style=dates)
    assert exp.years == [2018, 2019, 2020, 2021]
    assert res.log.count("error") == 0, res.log.grouped().to_string()
    want = _pseudonymised(ds, "Tinyvale")
    for name, keys in KEYS.items():
        pd.testing.assert_frame_equal(
            _sorted(res.dataset.tables[name], keys), _sorted(want[name], keys), check_like=True
        )
    # the open placement was reported open in 2020-21 and closed in no year: one row
    assert res.stats["episodes"]["merged_across_years"] > 0


@pytest.fixture(scope="module")
def synthetic():
    from vc_eval.synthetic.generator import SynthConfig, generate

    return generate(SynthConfig(councils=1, seed=11, sizes=(150,)))


def test_synthetic_population_round_trips(synthetic, tmp_path):
    ds = synthetic
    council = ds.council_names()[0]
    exp, res = _roundtrip(ds, tmp_path, council, cost_share=0.7, seed=3)
    assert res.log.count("error") == 0, res.log.grouped().to_string()
    got, want = res.dataset.tables, _pseudonymised(ds, council)

    for name in ("councils", "children", "assessments"):
        pd.testing.assert_frame_equal(
            _sorted(got[name], KEYS[name]), _sorted(want[name], KEYS[name]), check_like=True
        )

    # placements: equal, except that costs not exported come back imputed
    gp, wp = (
        _sorted(got["placements"], KEYS["placements"]),
        _sorted(want["placements"], KEYS["placements"]),
    )
    cols = [Col.child_id, Col.start_date, Col.end_date, Col.placement_type, Col.provider_id]
    pd.testing.assert_frame_equal(gp[cols], wp[cols])
    imputed = gp[Col.cost_imputed].to_numpy()
    assert 0.2 < imputed.mean() < 0.4  # cost_share 0.7
    assert np.array_equal(gp.loc[~imputed, Col.weekly_cost], wp.loc[~imputed, Col.weekly_cost])
    unit = gp[Col.placement_type].map({k: v.median for k, v in DEFAULT_UNIT_COSTS.items()})
    factor = gp[Col.placement_type].map(lambda t: PROVIDER_FACTORS.get(TYPE_CODES[t][1], 1.0))
    assert np.allclose(gp.loc[imputed, Col.weekly_cost], (unit * factor)[imputed], atol=0.005)

    # outcomes the SSDA903 carries come back exactly
    k = KEYS["outcomes"]
    go, wo = got["outcomes"], want["outcomes"]
    for m in ("sdq_total", "offending", "missing_episodes"):
        pd.testing.assert_frame_equal(
            _sorted(go[go[Col.measure] == m], k), _sorted(wo[wo[Col.measure] == m], k)
        )
    assert not set(go[Col.measure]) & {"school_attendance", "exclusion"}

    # placement moves: every synthetic row is imported; extra rows only before the window
    wm = wo[wo[Col.measure] == "placement_moves"]
    gm = go[go[Col.measure] == "placement_moves"]
    both = wm.merge(gm, on=k, how="left", suffixes=("_w", "_g"), indicator=True)
    assert (both["_merge"] == "both").all()
    extra = gm.merge(wm[k], on=k, how="left", indicator=True).query("_merge == 'left_only'")
    assert (extra[Col.date] < pd.Timestamp(ds.metadata["window"][0])).all()
    differ = both[both[f"{Col.value}_w"] != both[f"{Col.value}_g"]]
    # documented difference: a placement starting on 1 April in a leap year's count
    pl = want["placements"]
    for row in differ.itertuples():
        april1 = getattr(row, Col.date) - pd.Timedelta(days=365)
        assert april1.month == 4 and april1.day == 1  # r - 365 days is 1 April: leap year
        starts = pl.loc[pl[Col.child_id] == getattr(row, Col.child_id), Col.start_date]
        assert (starts == april1).any()
    assert len(differ) <= 0.01 * len(both)


def test_exported_files_are_dfe_tables(synthetic, tmp_path):
    from vc_eval.ingest.ssda903 import TABLES, recognise

    exp = export_dataset(synthetic, tmp_path / "e", cost_share=1.0)
    folders = sorted(exp.ssda903.iterdir())
    end = pd.Timestamp(synthetic.metadata["window"][1])  # a 31 March
    assert folders[-1].name == year_label(end.year)
    for f in folders[-1].glob("*.csv"):
        head = f.read_text().splitlines()[0].split(",")
        assert recognise(head) == f.stem and head == list(TABLES[f.stem].columns)
    # an open episode is repeated, blank-ended, in every year it is open
    eps = pd.concat(
        pd.read_csv(f / "episodes.csv", dtype=str, keep_default_na=False).assign(year=f.name)
        for f in folders
    )
    counts = eps.groupby(["CHILD", "DECOM"]).size()
    assert counts.max() > 1
    last = eps[eps["year"] == folders[-1].name]
    assert (last["DEC"] == "").any() and (last["REC"][last["DEC"] == ""] == "").all()
    assert "ZZ99" in last["HOME_POST"].iloc[0]  # fake postcodes, never imported
