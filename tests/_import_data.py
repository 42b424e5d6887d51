# ruff: noqa: E501  (the DfE header rows must stay on one line)
"""A tiny council's inputs for the import tests, written fresh for each test.

Three children in one collection year (folder ``2020-21``, year to 31 March
2021), every table the importer reads, a long needs extract with a YAML
mapping, and a costs file. The expected dataset is spelt out in
``test_import.py``; the malformed-input battery mutates one file at a time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

KEY = "9c4e1f0a7b3d8265e0f4a91c6d2b7e3f5a08c4d1b6e9f2a7c3d5e8b0f1a4c692"  # as secrets.token_hex(32)
YEAR_DIR = "2020-21"

FILES: dict[str, str] = {
    "header.csv": """CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB
A1,1,01/02/2010,WBRI,A123456789012,,
A2,2,15/06/2012,MWBA,A123456789013,,
A3,1,30/09/2008,BAFR,A123456789014,,
""",
    "episodes.csv": """CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN
A1,01/05/2020,S,C2,N1,U4,PR1,01/09/2020,X1,CARPL,AB1 2CD,EF3 4GH,SC111111
A1,01/09/2020,P,C2,N1,K2,PR4,,,,AB1 2CD,EF3 4GH,SC222222
A2,10/10/2020,S,V2,N1,U1,PR1,20/12/2020,X1,,AB1 2CD,EF3 4GH,XXXXXXX
A2,20/12/2020,L,C2,N1,U1,PR1,15/02/2021,E4A,,AB1 2CD,EF3 4GH,XXXXXXX
A3,03/03/2021,S,C1,N2,H5,PR5,,,,AB1 2CD,EF3 4GH,SC333333
""",
    "reviews.csv": """CHILD,DOB,REVIEW,REVIEW_CODE
A1,01/02/2010,29/05/2020,PN1
A1,01/02/2010,28/08/2020,PN1
A1,01/02/2010,26/02/2021,PN1
A2,15/06/2012,06/11/2020,PN2
""",
    "oc2.csv": """CHILD,DOB,SDQ_SCORE,SDQ_REASON,CONVICTED,HEALTH_CHECK,IMMUNISATIONS,TEETH_CHECK,HEALTH_ASSESSMENT,SUBSTANCE_MISUSE,INTERVENTION_RECEIVED,INTERVENTION_OFFERED
A1,01/02/2010,15,,0,1,1,1,1,0,0,0
""",
    "missing.csv": """CHILD,DOB,MISSING,MIS_START,MIS_END
A1,01/02/2010,M,10/10/2020,11/10/2020
A1,01/02/2010,M,12/01/2021,14/01/2021
A1,01/02/2010,A,15/01/2021,15/01/2021
""",
}

NEEDS = """Child ID,Review date,Worker,Domain,Score
A1,29/05/2020,W1,Attachment and family relationships,40
A1,29/05/2020,W1,Behaviour and self-regulation,55
A1,30/08/2020,W2,attachment,45
A2,06/11/2020,W1,Attachment and family relationships,30
"""

NEEDS_CONFIG = """child_id: Child ID
date: Review date
assessor: Worker
domain: Domain
score: Score
"""

COSTS = """CHILD,PLACEMENT_START,WEEKLY_COST
A1,01/05/2020,600
A1,15/10/2020,5000
"""


def write_inputs(root: Path) -> dict[str, Path]:
    """Write the tiny council's files under ``root``; return their paths."""
    ssda = root / "in" / YEAR_DIR
    ssda.mkdir(parents=True)
    for name, text in FILES.items():
        (ssda / name).write_text(text)
    paths = {"ssda903": ssda}
    for name, text in (
        ("needs", NEEDS),
        ("needs_config", NEEDS_CONFIG),
        ("costs", COSTS),
        ("key", KEY + "\n"),
    ):
        suffix = {"needs_config": ".yaml", "key": ".key"}.get(name, ".csv")
        p = root / "in" / f"{name}{suffix}"
        p.write_text(text)
        paths[name] = p
    return paths


def import_args(paths: dict[str, Path], **extra) -> dict:
    """``import_council`` keyword arguments for the inputs of :func:`write_inputs`."""
    return dict(
        council="Testshire",
        key_file=paths["key"],
        needs=paths["needs"],
        needs_config=paths["needs_config"],
        costs=paths["costs"],
        progress=False,
        today="2024-01-01",
        **extra,
    )


def cli_args(paths: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """Arguments of ``vc-eval import`` for these inputs."""
    return [
        "import",
        "--council",
        "Testshire",
        "--ssda903",
        str(paths["ssda903"]),
        "--needs",
        str(paths["needs"]),
        "--needs-config",
        str(paths["needs_config"]),
        "--costs",
        str(paths["costs"]),
        "--key-file",
        str(paths["key"]),
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def run_cli(args: list[str]):
    """Run the CLI in-process; returns the click Result (exit_code, stdout, stderr)."""
    from vc_eval.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime (ns) of every file under ``root``."""
    out = {}
    for f in sorted(root.rglob("*")):
        if f.is_file():
            out[str(f.relative_to(root))] = (
                hashlib.sha256(f.read_bytes()).hexdigest(),
                f.stat().st_mtime_ns,
            )
    return out
