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

import codecs
import contextlib
import hashlib
import hmac
import os
import re
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
    """Read a key file; any problem is fatal (missing, unreadable, empty, weak).

    The file is normalised first: a byte-order mark, UTF-16 (what
    PowerShell's ``>`` writes) and surrounding whitespace are removed, so the
    same key saved any of these ways gives the same pseudonyms. A text key
    (hex, or any other printable text) is used as its text; a binary key as
    its bytes. Keys under 128 bits (32 hex characters, 16 random bytes) and
    obviously weak ones (few distinct characters, a short pattern repeated)
    are refused.
    """
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise fatal(label, "key file not found (--key-file)")
    if path.is_dir():
        raise fatal(label, "key file is a folder, not a file")
    if not path.is_file():
        raise fatal(label, "key file is not a regular file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as err:
        raise fatal(label, f"key file cannot be read ({err.strerror or err})") from err
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise fatal(label, f"key file is too large (over {MAX_KEY_FILE_BYTES} bytes): not a key")
    key = normalise_key(raw)
    if not key:
        raise fatal(label, "key file is empty")
    problem = key_weakness(key)
    if problem:
        raise fatal(
            label,
            f'{problem}; make a strong key with: python -c "import secrets; '
            'print(secrets.token_hex(32))" > council.key',
        )
    return key


#: Longest key file read (a key is a few dozen bytes).
MAX_KEY_FILE_BYTES = 4096
_HEX = re.compile(rb"^[0-9a-fA-F]+$")


def normalise_key(raw: bytes) -> bytes:
    """Key bytes with BOM, UTF-16 encoding and surrounding whitespace removed."""
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(enc).strip().encode("utf-8")
            except UnicodeDecodeError:
                return raw.strip()
    # UTF-16 without a BOM: every other byte NUL around ASCII text
    if len(raw) >= 4 and raw[1::2].count(0) == len(raw[1::2]) and raw[0::2].count(0) == 0:
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode("utf-16-le").strip().encode("utf-8")
    return raw.strip()


def key_bits(key: bytes) -> int:
    """Bits of secret a key can hold at most: 4 per hex character, else 8 per byte
    (6 per character for printable text such as base64)."""
    if _HEX.match(key):
        return 4 * len(key)
    try:
        text = key.decode("ascii")
    except UnicodeDecodeError:
        return 8 * len(key)
    return 6 * len(text) if text.isprintable() else 8 * len(key)


def key_weakness(key: bytes) -> str | None:
    """Why a key is too weak to use, or None."""
    bits = key_bits(key)
    if bits < 128:
        return (
            f"key is too short ({bits} bits; at least 128 needed, e.g. 64 hex "
            "characters from secrets.token_hex(32))"
        )
    if len(set(key)) < 8:
        return f"key is too weak (only {len(set(key))} distinct characters)"
    for period in range(1, len(key) // 2 + 1):
        if len(key) % period == 0 and key == key[:period] * (len(key) // period):
            return f"key is too weak (a {period}-character pattern repeated)"
    return None


def key_fingerprint(key: bytes) -> str:
    """A fingerprint of the key safe to store: HMAC-SHA256(key, fixed label).

    Tells whether two datasets were made with the same key without
    revealing anything about the key.
    """
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


FINGERPRINT_LABEL = b"vc-eval key fingerprint v1"


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
        values = pd.Series(values, copy=False)
        # distinct raw values first, normalised and hashed once each: no
        # normalised copy of a long column (national: 10 million scores)
        raw_codes, raw_uniques = pd.factorize(values, use_na_sentinel=True)
        norm = normalise_ids(pd.Series(raw_uniques, dtype="str"))
        codes, uniques = pd.factorize(norm, use_na_sentinel=True)
        # the keyed prefix is hashed once; each id only extends a copy of it
        base = hmac.new(self.key, f"{self.scope}|{kind}|".encode(), hashlib.sha256)
        n = self.length
        out = []
        for u in pd.Series(uniques, dtype="str").tolist():  # not element by element from Arrow
            h = base.copy()
            h.update(u.encode())
            out.append(h.hexdigest()[:n])
        hashed = pd.array(out, dtype="str").take(codes, allow_fill=True)
        return pd.Series(hashed.take(raw_codes, allow_fill=True), index=values.index)

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
    "key_bits",
    "key_fingerprint",
    "key_weakness",
    "load_key",
    "normalise_key",
    "new_key_file",
    "normalise_ids",
]
