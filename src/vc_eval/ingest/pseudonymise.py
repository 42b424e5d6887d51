"""Keyed pseudonyms for child, assessor and provider identifiers.

Each identifier is replaced by ``HMAC-SHA256(key, "<council>|<kind>|<id>")``
cut to 16 hex characters. The key is a secret the council holds in a key
file; without it the pseudonyms cannot be reversed or recomputed, and with
the same key the same child gets the same pseudonym in every year's import,
so records link up. The council name scopes the pseudonyms (the same raw id
in two councils gives two pseudonyms), and ``kind`` keeps a child id and an
assessor id that happen to be equal apart.

The key itself is never written anywhere; :attr:`Pseudonymiser.key_id` is a
short keyed fingerprint that tells two imports apart by key without
revealing it.

Make a key once per council, keep it out of the data folder, and reuse it::

    python -c "import secrets; print(secrets.token_hex(32))" > council.key
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vc_eval.ingest.problems import fatal

#: Shortest key accepted, in bytes (after stripping surrounding whitespace).
MIN_KEY_BYTES = 16
#: Hex characters kept from each HMAC (64 bits: collisions are negligible
#: for any council's children; tested in the test suite).
PSEUDONYM_LENGTH = 16

CHILD, ASSESSOR, PROVIDER = "child", "assessor", "provider"


def load_key(path: str | Path) -> bytes:
    """Read a key file; any problem is fatal (missing, unreadable, empty, short).

    Surrounding whitespace (a trailing newline) is ignored, so a key written
    with ``echo`` and one written without give the same pseudonyms.
    """
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise fatal(label, "key file not found (--key-file)")
    if path.is_dir():
        raise fatal(label, "key file is a folder, not a file")
    try:
        key = path.read_bytes().strip()
    except OSError as err:
        raise fatal(label, f"key file cannot be read ({err.strerror or err})") from err
    if not key:
        raise fatal(label, "key file is empty")
    if len(key) < MIN_KEY_BYTES:
        raise fatal(
            label,
            f"key is too short ({len(key)} bytes; at least {MIN_KEY_BYTES} "
            "needed, e.g. 64 hex characters from secrets.token_hex(32))",
        )
    return key


def new_key_file(path: str | Path) -> Path:
    """Write a fresh random key (64 hex characters) readable only by its owner.

    Refuses to overwrite an existing file: losing a key breaks linkage
    with every earlier import.
    """
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path


def normalise_ids(values: pd.Series) -> pd.Series:
    """Identifiers as clean strings: stripped, and ``123.0`` (Excel) read as ``123``.

    Blank values become missing. Case is kept: ids are case-sensitive.
    """
    values = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    u = pd.Series(uniques, dtype="str").str.strip()
    u = u.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    u = u.where(u.notna() & (u != ""))
    return pd.Series(u.array.take(codes, allow_fill=True), index=values.index)


@dataclass(frozen=True)
class Pseudonymiser:
    """Keyed hashing of identifiers for one council.

    Parameters
    ----------
    key : bytes
        The council's secret key (see :func:`load_key`). Never shown in ``repr``.
    council : str
        Council name; scopes the pseudonyms (compared case-insensitively).
    length : int
        Hex characters kept (default 16).
    """

    key: bytes = field(repr=False)
    council: str
    length: int = PSEUDONYM_LENGTH

    @property
    def scope(self) -> str:
        return self.council.strip().casefold()

    @property
    def key_id(self) -> str:
        """Short keyed fingerprint of the key (safe to record; not the key)."""
        return hmac.new(self.key, b"vc-eval key id", hashlib.sha256).hexdigest()[:12]

    def one(self, raw: str, kind: str) -> str:
        """The pseudonym of one identifier."""
        msg = f"{self.scope}|{kind}|{raw}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()[: self.length]

    def series(self, values: pd.Series, kind: str) -> pd.Series:
        """Pseudonyms of a column of identifiers; missing stays missing.

        Hashes each distinct value once, so a long table costs little more
        than its number of distinct ids.
        """
        s = normalise_ids(values)
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        # the keyed prefix is hashed once; each id only extends a copy of it
        base = hmac.new(self.key, f"{self.scope}|{kind}|".encode(), hashlib.sha256)
        n = self.length
        out = []
        for u in uniques:
            h = base.copy()
            h.update(u.encode())
            out.append(h.hexdigest()[:n])
        hashed = pd.array(out, dtype="str")
        return pd.Series(hashed.take(codes, allow_fill=True), index=s.index)

    def mapping(self, values, kind: str) -> dict[str, str]:
        """Raw id -> pseudonym for the given ids (for checks and round trips)."""
        s = normalise_ids(pd.Series(list(values), dtype="str")).dropna().unique()
        return {v: self.one(v, kind) for v in s}


__all__ = [
    "ASSESSOR",
    "CHILD",
    "MIN_KEY_BYTES",
    "PROVIDER",
    "PSEUDONYM_LENGTH",
    "Pseudonymiser",
    "load_key",
    "new_key_file",
    "normalise_ids",
]
