"""The :class:`Dataset`: the five tables of the data model, loaded and saved.

This module (with :mod:`vc_eval.core.files`) is the only place that knows how a
dataset folder is laid out::

    DIR/
      councils.parquet  children.parquet  assessments.parquet
      placements.parquet  outcomes.parquet  [sub_needs.parquet]
      dataset.json      (metadata: framework, source, seed)
      truth.json        (synthetic data only: the generating parameters)

CSV files with the same stems are accepted on load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vc_eval.core.factorized import isin, lookup
from vc_eval.core.files import atomic_dir
from vc_eval.core.framework import TOTAL_NEED, Framework, check_scores, load_framework
from vc_eval.core.schema import (
    ASSESSMENTS,
    CHILD_ROLE,
    CHILDREN,
    COLUMNS,
    COUNCILS,
    DATE_COLUMNS,
    DAYS_PER_YEAR,
    DEFAULT_RATER_ROLE,
    OPTIONAL_TABLES,
    OUTCOMES,
    PLACEMENTS,
    TABLES,
    Col,
    ValidationError,
    Violation,
    validate_table,
)

METADATA_FILE = "dataset.json"
TRUTH_FILE = "truth.json"


@dataclass
class Dataset:
    """The tables of one or more councils, plus metadata.

    Attributes
    ----------
    tables : dict of DataFrame
        Keyed by table name (see :mod:`vc_eval.core.schema`).
    metadata : dict
        Free-form provenance (framework id, how the data were made).
    framework : Framework
        The needs framework the scores follow.
    files : dict of Path
        Where each table was read from (empty for data built in memory).
    """

    tables: dict[str, pd.DataFrame]
    metadata: dict = field(default_factory=dict)
    framework: Framework = field(default_factory=load_framework)
    files: dict[str, Path] = field(default_factory=dict)
    truth: dict | None = None
    _practitioner: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # -- convenient access --------------------------------------------------
    @property
    def councils(self) -> pd.DataFrame:
        return self.tables[COUNCILS]

    @property
    def children(self) -> pd.DataFrame:
        return self.tables[CHILDREN]

    @property
    def assessments(self) -> pd.DataFrame:
        """Practitioners' scores: what every analysis of need reads.

        The child's own ratings (``rater_role == "child"``) are left out, so
        no analysis takes the child for a second assessor; they are compared
        with the practitioners' in :mod:`vc_eval.analysis.child_view`.
        :attr:`ratings` is every row (the table as stored).
        """
        a = self.tables[ASSESSMENTS]
        if Col.rater_role not in a.columns:
            return a
        if self._practitioner is not None and self._practitioner[0] is a:
            return self._practitioner[1]
        own = (a[Col.rater_role] == CHILD_ROLE).to_numpy()
        out = a[~own].reset_index(drop=True) if own.any() else a
        self._practitioner = (a, out)
        return out

    @property
    def ratings(self) -> pd.DataFrame:
        """Every score as stored: practitioners' and the child's own (``rater_role``)."""
        return self.tables[ASSESSMENTS]

    @property
    def placements(self) -> pd.DataFrame:
        return self.tables[PLACEMENTS]

    @property
    def outcomes(self) -> pd.DataFrame:
        return self.tables[OUTCOMES]

    # -- construction -------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        *,
        councils: pd.DataFrame,
        children: pd.DataFrame,
        assessments: pd.DataFrame,
        placements: pd.DataFrame,
        outcomes: pd.DataFrame,
        framework: Framework | None = None,
        metadata: dict | None = None,
    ) -> Dataset:
        """Build a dataset from frames, putting columns and types in order."""
        tables = {
            COUNCILS: councils,
            CHILDREN: children,
            ASSESSMENTS: assessments,
            PLACEMENTS: placements,
            OUTCOMES: outcomes,
        }
        ds = cls(
            {k: conform(k, v) for k, v in tables.items()},
            metadata=dict(metadata or {}),
            framework=framework or load_framework(),
        )
        ds.tables[ASSESSMENTS] = add_age(ds.ratings, ds.children)
        return ds

    @classmethod
    def load(
        cls, path: str | Path, *, framework: Framework | str | None = None, validate: bool = True
    ) -> Dataset:
        """Read a dataset folder (Parquet, or CSV with the same stems).

        Raises
        ------
        FileNotFoundError
            If the folder or a required table is missing.
        ValidationError
            If ``validate`` and any table breaks the data model; the error
            lists every violation with file, row, column and rule.
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: dataset folder not found")
        meta_file = path / METADATA_FILE
        metadata = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        if framework is None:
            fw_name = metadata.get("framework", {}).get("path")
            fw_file = path / "framework.yaml"
            framework = fw_file if fw_file.exists() else fw_name
        fw = framework if isinstance(framework, Framework) else load_framework(framework)
        tables: dict[str, pd.DataFrame] = {}
        files: dict[str, Path] = {}
        raw: dict[str, pd.DataFrame] = {}
        for name in TABLES + OPTIONAL_TABLES:
            file = _find_table_file(path, name)
            if file is None:
                if name in OPTIONAL_TABLES:
                    continue
                raise FileNotFoundError(
                    f"{path}: table '{name}' not found ({name}.parquet or .csv)"
                )
            files[name] = file
            raw[name] = _read_table(file)
        truth_file = path / TRUTH_FILE
        truth = json.loads(truth_file.read_text()) if truth_file.exists() else None
        ds = cls(tables, metadata=metadata, framework=fw, files=files, truth=truth)
        if validate:
            violations = []
            for name, frame in raw.items():
                violations += validate_table(name, frame, file=str(files[name]))
            if violations:
                raise ValidationError(violations, context=str(path))
        has_age = Col.age_at_assessment in raw[ASSESSMENTS]
        # conform table by table, dropping each raw frame as soon as it is
        # conformed, so the raw and conformed copies of the biggest table
        # (assessments, 10 M rows nationally) are never all held at once
        for name in list(raw):
            tables[name] = conform(name, raw.pop(name))
        if not has_age:
            tables[ASSESSMENTS] = add_age(tables[ASSESSMENTS], tables[CHILDREN])
        if validate:
            violations = ds.check_links()
            if violations:
                raise ValidationError(violations, context=str(path))
        return ds

    def save(self, path: str | Path, *, extra_files: dict[str, str | bytes] | None = None) -> Path:
        """Write the dataset as Parquet into ``path``, atomically.

        The folder appears complete or not at all; an existing folder is
        replaced only once the new one is fully written.
        """
        path = Path(path)
        with atomic_dir(path) as tmp:
            for name, frame in self.tables.items():
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            meta = dict(self.metadata)
            meta.setdefault("framework", {})
            meta["framework"] = {
                **meta["framework"],
                "id": self.framework.id,
                "version": self.framework.version,
                "sha256": self.framework.sha256,
            }
            (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
            for fname, content in (extra_files or {}).items():
                target = tmp / fname
                if isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content)
        return path

    # -- checks -------------------------------------------------------------
    def validate(self) -> list[Violation]:
        """Every violation of the data model and of links between tables."""
        out: list[Violation] = []
        for name, frame in self.tables.items():
            out += validate_table(name, frame, file=str(self.files.get(name, name)))
        return out + self.check_links()

    def check_links(self) -> list[Violation]:
        """Violations of references between tables and of the framework."""
        out: list[Violation] = []
        known_children = self.children[Col.child_id]
        known_councils = self.councils[Col.council]
        bad = ~isin(self.children[Col.council], known_councils)
        out += _row_violations(
            self._file(CHILDREN),
            bad,
            Col.council,
            "council not in councils table",
            self.children[Col.council],
        )
        for name in (ASSESSMENTS, PLACEMENTS, OUTCOMES):
            frame = self.tables[name]
            bad = ~isin(frame[Col.child_id], known_children)
            out += _row_violations(
                self._file(name),
                bad,
                Col.child_id,
                "child not in children table",
                frame[Col.child_id],
            )
        out += check_scores(self.ratings, self.framework, file=self._file(ASSESSMENTS))
        return out

    def _file(self, name: str) -> str:
        return str(self.files.get(name, name))

    # -- provenance ---------------------------------------------------------
    def fingerprint(self) -> str:
        """sha256 over the content of every table (order-independent of files)."""
        h = hashlib.sha256()
        for name in sorted(self.tables):
            frame = self.tables[name]
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return h.hexdigest()

    # -- subsets and derived views -----------------------------------------
    def council_names(self) -> list[str]:
        return sorted(self.councils[Col.council])

    def subset(self, councils: str | Iterable[str]) -> Dataset:
        """The same dataset restricted to one or more councils."""
        wanted = {councils} if isinstance(councils, str) else set(councils)
        unknown = wanted - set(self.councils[Col.council])
        if unknown:
            raise KeyError(f"council(s) not in the data: {', '.join(sorted(unknown))}")
        kids = self.children[isin(self.children[Col.council], wanted)]
        ids = kids[Col.child_id]
        tables = {}
        for name, frame in self.tables.items():
            if name == COUNCILS:
                tables[name] = frame[isin(frame[Col.council], wanted)].reset_index(drop=True)
            elif name == CHILDREN:
                tables[name] = kids.reset_index(drop=True)
            else:
                tables[name] = frame[isin(frame[Col.child_id], ids)].reset_index(drop=True)
        return Dataset(
            tables,
            metadata=dict(self.metadata),
            framework=self.framework,
            files=dict(self.files),
            truth=self.truth,
        )

    def only_children(self, ids: Iterable[str], *, council: str | None = None) -> Dataset:
        """The same dataset restricted to the given children (e.g. a tiny test council).

        With ``council``, the dataset's one council is renamed to it (its truth,
        which names councils, is left out).
        """
        if council is not None and len(self.councils) != 1:
            raise ValueError("only a dataset of one council can be renamed (subset it first)")
        ids = ids if isinstance(ids, pd.Series | pd.Index) else list(ids)
        tables = {}
        for name, frame in self.tables.items():
            if Col.child_id in frame:
                frame = frame[isin(frame[Col.child_id], ids)]
            if council is not None and Col.council in frame:
                frame = frame.assign(**{Col.council: council})
            tables[name] = frame.reset_index(drop=True)
        return Dataset(tables, metadata=dict(self.metadata), framework=self.framework)

    def scores_until(self, date: str | pd.Timestamp | None) -> Dataset:
        """The same dataset with needs scores after ``date`` left out (None or "": all)."""
        if date is None or date == "":
            return self
        a = self.ratings
        tables = dict(self.tables)
        tables[ASSESSMENTS] = a[a[Col.assessment_date] <= pd.Timestamp(date)].reset_index(drop=True)
        return Dataset(
            tables,
            metadata=self.metadata,
            framework=self.framework,
            files=self.files,
            truth=self.truth,
        )

    def scores(self, *, with_children: bool = True) -> pd.DataFrame:
        """Assessments in long form, with council and child columns joined."""
        a = self.assessments
        if not with_children:
            return a
        cols = [Col.child_id, Col.council, Col.sex, Col.date_of_birth, Col.entered_care]
        return a.merge(self.children[cols], on=Col.child_id, how="left", validate="many_to_one")

    def scores_wide(self) -> pd.DataFrame:
        """One row per child x assessment date x assessor, one column per domain.

        Adds ``total_need`` (mean of the need domains scored) when any need
        domain is present.
        """
        a = self.assessments
        keys = [Col.child_id, Col.assessment_date, Col.assessor_id, Col.age_at_assessment]
        wide = a.pivot_table(
            index=keys, columns=Col.domain, values=Col.score, aggfunc="mean", observed=True
        )
        wide.columns = [str(c) for c in wide.columns]
        needs = [d for d in self.framework.need_domains if d in wide.columns]
        if needs:
            wide[TOTAL_NEED] = wide[needs].mean(axis=1)
        return wide.reset_index()


def concat(parts: Sequence[Dataset]) -> Dataset:
    """Datasets of different councils as one (metadata and framework of the first)."""
    parts = list(parts)
    if not parts:
        raise ValueError("no datasets to put together")
    tables = {
        k: pd.concat([p.tables[k] for p in parts], ignore_index=True) for k in parts[0].tables
    }
    first = parts[0]
    return Dataset(tables, metadata=dict(first.metadata), framework=first.framework)


def total_need(assessments: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """Long table of total need: mean of need-domain scores per assessment."""
    needs = framework.need_domains
    a = assessments[assessments[Col.domain].isin(needs)]
    keys = [Col.child_id, Col.assessment_date, Col.assessor_id]
    if Col.age_at_assessment in a:
        keys.append(Col.age_at_assessment)
    out = a.groupby(keys, as_index=False, observed=True)[Col.score].mean()
    out[Col.domain] = TOTAL_NEED
    return out


def add_age(assessments: pd.DataFrame, children: pd.DataFrame) -> pd.DataFrame:
    """Add ``age_at_assessment`` (years) from each child's date of birth."""
    born = children.set_index(Col.child_id)[Col.date_of_birth]
    ids = assessments[Col.child_id]
    if born.index.is_unique and ids.dtype == born.index.dtype:
        # once per distinct child: ``map`` on 10 million text ids (a national
        # import) makes a Python object of each, about 1 GiB at its peak
        dob = lookup(ids, born)
    else:
        dob = ids.map(born)
    out = assessments.copy()
    out[Col.age_at_assessment] = (
        (out[Col.assessment_date] - dob).dt.days.astype(float) / DAYS_PER_YEAR
    ).round(4)
    return out


def conform(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Put a table's columns in model order with model types.

    Raises ``ValidationError`` naming the table if a column cannot be coerced.
    """
    cols = [c for c in COLUMNS[table] if c in frame.columns]
    # No deep copy: with copy-on-write (pandas 3) the caller's frame is never
    # modified, and columns already of the model's type are not converted
    # (a national assessments table is about 0.8 GB).
    out = frame.loc[:, cols]
    dates = set(DATE_COLUMNS.get(table, ()))
    for c in cols:
        dtype = out[c].dtype
        if c in dates:
            if dtype != "datetime64[ns]":
                out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
        elif c in (Col.score, Col.value, Col.weekly_cost, Col.age_at_assessment):
            if dtype != np.float64:
                out[c] = pd.to_numeric(out[c]).astype(float)
        elif c == Col.cost_imputed:
            if dtype != np.dtype(bool):
                out[c] = out[c].astype(bool)
        elif c == Col.rater_role:
            out[c] = out[c].fillna(DEFAULT_RATER_ROLE).astype("str")
        elif not _is_str(dtype):
            out[c] = out[c].astype("str")
    if table == "placements" and Col.cost_imputed not in out:
        out[Col.cost_imputed] = False
    return out.reset_index(drop=True)


def _is_str(dtype) -> bool:
    """True for pandas' default string dtype (what ``astype("str")`` gives)."""
    return isinstance(dtype, pd.StringDtype) and dtype == pd.Series([], dtype="str").dtype


def _find_table_file(folder: Path, name: str) -> Path | None:
    for ext in (".parquet", ".csv"):
        f = folder / f"{name}{ext}"
        if f.exists():
            return f
    return None


def _read_table(file: Path) -> pd.DataFrame:
    if file.suffix == ".parquet":
        return pd.read_parquet(file)
    # Read CSV as text so the schema, not pandas' guesses, decides types.
    return pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")


def _row_violations(
    file: str, bad: pd.Series | np.ndarray, column: str, rule: str, values: pd.Series
) -> list[Violation]:
    idx = np.flatnonzero(np.asarray(bad))
    return [Violation(file, int(i) + 1, column, rule, str(values.iloc[i])) for i in idx]


__all__ = ["Dataset", "add_age", "conform", "total_need"]
