"""The importer's fast paths equal the plain pandas/numpy operations they replace.

Duplicates found by a stable sort, columns coded by their categories or Arrow
dictionaries, categorical text expanded from its categories, lookups by a
categorical's codes and the block quote check are each compared with the plain
operation on small hostile cases: missing values, repeated and unused
categories, several Arrow chunks, keys near the int64 limit, quotes and line
breaks in every position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from vc_eval.core import factorized as fz
from vc_eval.ingest.extracts import _block_ok

KEEPS = ("first", "last", False)


@pytest.mark.parametrize("seed", range(5))
def test_duplicated_keys_equals_pandas(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.integers(0, 50))
        scale = 10 ** int(rng.integers(0, 18))
        key = rng.integers(-4, 5, n).astype(np.int64) * scale
        if n and rng.random() < 0.3:
            key = np.sort(key)  # rows in file order are often sorted
        for keep in KEEPS:
            want = pd.Series(key, dtype="int64").duplicated(keep=keep).to_numpy()
            np.testing.assert_array_equal(fz.duplicated_keys(key, keep=keep), want)


def test_duplicated_keys_rejects_unknown_keep():
    with pytest.raises(ValueError):
        fz.duplicated_keys(np.array([1, 1]), keep="middle")


def _hostile_frame(rng, n: int) -> pd.DataFrame:
    text = pd.Series(rng.choice(["a", "b", None, " a", "A", ""], n), dtype="str")
    # the same column as several Arrow chunks (as pd.concat leaves it)
    half = n // 2
    chunked = pd.concat([text.iloc[:half], text.iloc[half:]], ignore_index=True)
    cats = pd.Index(["y", "x", "unused"], dtype="str")
    return pd.DataFrame(
        {
            "s": text,
            "chunked": chunked,
            "c": pd.Categorical(rng.choice(["x", "y", None], n), categories=cats),
            "d": pd.to_datetime(pd.Series(rng.choice(["2020-01-01", None, "2021-02-02"], n))),
            "f": rng.choice([1.0, np.nan, 2.0, -0.0, 0.0], n),
            "o": pd.Series(rng.choice(["p", None, "q"], n), dtype=object),
            "i": rng.integers(0, 3, n),
        }
    )


@pytest.mark.parametrize("seed", range(3))
def test_duplicated_equals_frame_duplicated(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(15):
        f = _hostile_frame(rng, int(rng.integers(0, 40)))
        for cols in (["s"], ["chunked"], ["c"], ["s", "c", "d"], ["f", "o", "i"], list(f.columns)):
            for keep in KEEPS:
                want = f.duplicated(cols, keep=keep).to_numpy()
                np.testing.assert_array_equal(fz.duplicated(f, cols, keep=keep), want)


@pytest.mark.parametrize("seed", range(3))
def test_value_codes_number_distinct_values(seed):
    """Equal values share a code, different values never do (missing is a value)."""
    rng = np.random.default_rng(200 + seed)
    f = _hostile_frame(rng, 60)
    assert f["chunked"].array._pa_array.num_chunks == 2  # the multi-chunk case is tested
    for col in f.columns:
        codes = fz.value_codes(f[col])
        plain = pd.factorize(f[col], use_na_sentinel=False)[0]
        assert codes.min() >= 0
        # a one-to-one map between the two numberings
        pairs = set(zip(codes.tolist(), plain.tolist(), strict=True))
        assert len(pairs) == len(set(codes.tolist())) == len(set(plain.tolist()))


def test_as_str_equals_astype():
    rng = np.random.default_rng(3)
    cats = pd.Index(["y", "x", "unused"], dtype="str")
    for n in (0, 1, 17):
        c = pd.Series(
            pd.Categorical(rng.choice(["x", "y", None], n), categories=cats),
            index=rng.permutation(n),
            name="domain",
        )
        assert_series_equal(fz.as_str(c), c.astype("str"))
    # not a categorical of text: plain astype
    for s in (pd.Series([1, None, 3]), pd.Series(pd.Categorical([1, 2, None]))):
        assert_series_equal(fz.as_str(s), s.astype("str"))


def test_lookup_by_categorical_codes_equals_text_lookup():
    rng = np.random.default_rng(4)
    cats = pd.Index(["a", "b", "c", "d"], dtype="str")
    mapping = pd.Series([1.5, 2.5, np.nan], index=pd.Index(["b", "a", "z"], dtype="str"))
    for n in (0, 1, 30):
        v = pd.Series(
            pd.Categorical(rng.choice(["a", "b", None, "c"], n), categories=cats),
            index=rng.permutation(n),
        )
        got = fz.lookup(v, mapping)
        assert_series_equal(got, fz.lookup(v.astype("str"), mapping))
        assert_series_equal(got, v.astype("str").map(mapping).astype(float))


def _block_ok_by_lines(block: bytes) -> bool:
    """The rule as first written: every line's quotes are even in number."""
    lines = block.split(b"\n")
    return all(line.count(b'"') % 2 == 0 for line in lines)


def test_block_quote_check_equals_per_line_rule():
    rng = np.random.default_rng(5)
    alphabet = np.frombuffer(b'"\n,a', dtype=np.uint8)
    for _ in range(3000):
        n = int(rng.integers(1, 25))
        block = bytes(rng.choice(alphabet, n).astype(np.uint8))
        if b"\n\n" in block or block.startswith(b"\n"):
            continue  # refused before the quotes are looked at
        assert _block_ok(block, after_newline=True) == _block_ok_by_lines(block), block


def _parse_money_everywhere(values: pd.Series) -> pd.Series:
    """parse_money as it was: the clean-up regex run on every value."""
    from vc_eval.ingest import extracts as x

    s = values.fillna("").astype("str").str.replace(r"(?i)gbp|£|\s", "", regex=True)
    codes, uniques = pd.factorize(s)
    u = pd.Series(uniques, dtype="str")
    out = pd.Series(np.nan, index=u.index)
    uk = u.str.match(x._UK_MONEY) & ~u.str.match(x._AMBIGUOUS_MONEY)
    out[uk] = pd.to_numeric(u[uk].str.replace(",", "", regex=False), errors="coerce")
    eu = ~uk & u.str.match(x._EU_MONEY)
    out[eu] = pd.to_numeric(
        u[eu].str.replace(".", "", regex=False).str.replace(",", ".", regex=False),
        errors="coerce",
    )
    other = ~uk & ~eu & u.str.match(x._SPECIAL_NUMBER)
    out[other] = pd.to_numeric(u[other], errors="coerce")
    res = out.to_numpy(dtype=float)[codes] if len(codes) else np.array([], dtype=float)
    return pd.Series(res, index=values.index)


def test_parse_money_cleans_only_where_it_can_change_something():
    from vc_eval.ingest.extracts import parse_money

    rng = np.random.default_rng(6)
    atoms = ["1", "2", "0", ".", ",", "-", "+", " ", "£", "GBP", "gbp", "g", "bp", "\u00a0"]
    atoms += ["e", "x", "\t", "\u0661", "inf", "nan", "\u2028"]
    # each value is parsed on its own, so one long column covers every case
    vals = ["".join(rng.choice(atoms, int(rng.integers(0, 6)))) for _ in range(3000)]
    vals[::17] = [None] * len(vals[::17])
    for v in (
        pd.Series(vals, dtype="str"),
        pd.Series(vals, dtype=object),
        pd.Series([], dtype="str"),
    ):
        assert_series_equal(parse_money(v), _parse_money_everywhere(v))


def _import_args(paths) -> dict:
    from _import_data import import_args

    return import_args(paths, accept_drops=True)


def _bad_scores(paths) -> None:
    """Problems in the needs extract as well as in the SSDA903 data."""
    lines = paths["needs"].read_text().splitlines()
    bad = lines[1].split(",")
    bad[-1] = "abc"
    paths["needs"].write_text("\n".join([*lines, ",".join(bad), lines[2]]) + "\n")


def test_needs_read_alongside_equals_read_in_turn(tmp_path, monkeypatch):
    from _import_data import write_inputs

    from vc_eval.ingest import importer

    paths = write_inputs(tmp_path)
    _bad_scores(paths)
    monkeypatch.setattr(importer, "READ_NEEDS_ALONGSIDE", False)
    in_turn = importer.import_council([paths["ssda903"]], **_import_args(paths))
    monkeypatch.setattr(importer, "READ_NEEDS_ALONGSIDE", True)
    alongside = importer.import_council([paths["ssda903"]], **_import_args(paths))
    for name, table in in_turn.dataset.tables.items():
        pd.testing.assert_frame_equal(alongside.dataset.tables[name], table)
    # the same problems in the same order: the SSDA903 ones, then the extract's
    pd.testing.assert_frame_equal(alongside.log.frame(), in_turn.log.frame())
    assert alongside.log.count() > 0
    assert alongside.report() == in_turn.report()


@pytest.mark.parametrize("alongside", [False, True])
def test_ssda903_error_comes_first_when_both_inputs_are_broken(tmp_path, monkeypatch, alongside):
    from _import_data import write_inputs

    from vc_eval.ingest import importer
    from vc_eval.ingest.problems import ImportFailed

    paths = write_inputs(tmp_path)
    episodes = next(paths["ssda903"].glob("*pisodes*"))
    episodes.write_text(episodes.read_text().splitlines()[0] + "\n")  # header only
    paths["needs"].write_text("nothing,useful\n1,2\n")  # no child id or date column
    monkeypatch.setattr(importer, "READ_NEEDS_ALONGSIDE", alongside)
    with pytest.raises(ImportFailed, match="no valid looked-after episodes"):
        importer.import_council([paths["ssda903"]], **_import_args(paths))
    # with the SSDA903 data whole, the extract's own error is raised
    good = write_inputs(tmp_path / "again")
    good["needs"].write_text("nothing,useful\n1,2\n")
    with pytest.raises(ImportFailed, match="cannot find the child id"):
        importer.import_council([good["ssda903"]], **_import_args(good))


def test_ssda903_error_does_not_wait_for_the_needs_read(tmp_path, monkeypatch):
    """The SSDA903 error is raised at once; the extract's read still running in its
    thread is left behind, not waited for."""
    import threading

    from _import_data import write_inputs

    from vc_eval.ingest import importer
    from vc_eval.ingest.problems import ImportFailed

    paths = write_inputs(tmp_path)
    episodes = next(paths["ssda903"].glob("*pisodes*"))
    episodes.write_text(episodes.read_text().splitlines()[0] + "\n")  # header only
    release, finished = threading.Event(), threading.Event()

    def slow_read(*args, **kwargs):
        release.wait(60)
        finished.set()
        raise RuntimeError("the stand-in extract read ended")

    monkeypatch.setattr(importer, "read_needs", slow_read)
    monkeypatch.setattr(importer, "READ_NEEDS_ALONGSIDE", True)
    try:
        with pytest.raises(ImportFailed, match="no valid looked-after episodes"):
            importer.import_council([paths["ssda903"]], **_import_args(paths))
        assert not finished.is_set()  # raised while the read was still going
    finally:
        release.set()
