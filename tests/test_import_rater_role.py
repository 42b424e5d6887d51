"""The importer passes who scored (``rater_role``) through from the needs extract."""

from __future__ import annotations

import pytest
from _import_data import write_inputs

from vc_eval.core.schema import Col
from vc_eval.ingest.extracts import RATER_SPELLINGS, role_key
from vc_eval.ingest.importer import ImportFailed, import_council

HEAD = "Child ID,Review date,Worker,Domain,Score,Completed by\n"


@pytest.fixture
def tiny(tmp_path):
    return write_inputs(tmp_path)


def _import(paths, text: str, tmp_path, config: str | None = None, **kw):
    needs = tmp_path / "needs_roles.csv"
    needs.write_text(text)
    cfg = None
    if config is not None:
        cfg = tmp_path / "roles.yaml"
        cfg.write_text(config)
    return import_council(
        [paths["ssda903"]],
        council="Testshire",
        key_file=paths["key"],
        needs=needs,
        needs_config=cfg,
        costs=paths["costs"],
        progress=False,
        **kw,
    )


def test_common_spellings_map_to_the_schema_roles(tiny, tmp_path):
    text = HEAD + (
        "A1,29/05/2020,W1,attachment,40,Social Worker\n"
        "A1,29/05/2020,,attachment,30,Young person\n"  # the child's own: no assessor needed
        "A1,29/05/2020,W3,attachment,42,foster-carer\n"
        "A1,29/05/2020,W4,attachment,44,IRO\n"
        "A2,06/11/2020,W1,attachment,30,\n"  # blank: a social worker's
        "A2,06/11/2020,W1,behaviour,35,SW\n"
    )
    res = _import(tiny, text, tmp_path)
    a = res.dataset.ratings
    assert sorted(a[Col.rater_role]) == sorted(
        ["social_worker", "child", "carer", "iro", "social_worker", "social_worker"]
    )
    assert len(res.dataset.assessments) == 5  # practitioners' scores only
    own = a[a[Col.rater_role] == "child"]
    assert len(own) == 1 and own[Col.score].iloc[0] == 30
    assert res.dataset.validate() == []


def test_no_role_column_means_social_workers_and_no_column(tiny, tmp_path):
    res = _import(
        tiny, "Child ID,Review date,Worker,Domain,Score\nA1,29/05/2020,W1,attachment,40\n", tmp_path
    )
    assert Col.rater_role not in res.dataset.ratings


def test_unknown_role_is_an_error_naming_file_row_column_and_rule(tiny, tmp_path):
    text = HEAD + (
        "A1,29/05/2020,W1,attachment,40,Social worker\n"
        "A1,29/05/2020,W2,attachment,41,<script>alert(1)</script>\n"
    )
    res = _import(tiny, text, tmp_path, accept_drops=True)
    assert len(res.dataset.ratings) == 1  # the hostile row's score dropped
    f = res.log.frame("error")
    hit = f[f["rule"].str.startswith("rater role not recognised")]
    assert len(hit) == 1
    r = hit.iloc[0]
    assert r["file"] == "needs_roles.csv" and r["column"] == "Completed by"
    assert str(r["row"]) == "2"  # the second data row
    # the report lists it with the value made inert
    report = res.report()
    assert "rater role not recognised" in report and "<script>" not in report
    # without --accept-drops (and with --strict) the import stops, naming the rule
    with pytest.raises(ImportFailed) as err:
        _import(tiny, text, tmp_path)
    assert "needs_roles.csv" in str(err.value) and "Completed by" in str(err.value)
    with pytest.raises(ImportFailed) as err:
        _import(tiny, text, tmp_path, strict=True)
    assert "rater role not recognised" in str(err.value)


def test_config_names_the_column_and_maps_other_labels(tiny, tmp_path):
    text = "kid,when,who,area,value,by\nA1,29/05/2020,W1,attachment,40,Voice of the child\n"
    cfg = (
        "child_id: kid\ndate: when\nassessor: who\ndomain: area\nscore: value\n"
        "rater_role: by\nrater_values: {Voice of the child: child}\n"
    )
    res = _import(tiny, text, tmp_path, config=cfg)
    assert list(res.dataset.ratings[Col.rater_role]) == ["child"]
    bad = cfg.replace("{Voice of the child: child}", "{Voice of the child: pupil}")
    with pytest.raises(Exception, match="unknown role"):
        _import(tiny, text, tmp_path, config=bad)


def test_spellings_are_loose_but_map_only_to_known_roles():
    from vc_eval.core.schema import RATER_ROLES

    assert set(RATER_SPELLINGS.values()) <= set(RATER_ROLES)
    assert RATER_SPELLINGS[role_key("Child's view")] == "child"
    assert RATER_SPELLINGS[role_key("  KEY-WORKER ")] == "carer"
    assert role_key("Social_Worker") in RATER_SPELLINGS
