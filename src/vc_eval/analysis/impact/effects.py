"""What impact results with an effects table (one row per horizon and kind) share."""

from __future__ import annotations

import pandas as pd


class HorizonEffects:
    """Mixin for results holding ``effects`` with ``horizon`` and ``kind`` columns."""

    effects: pd.DataFrame

    def effect(self, horizon: int, kind: str = "point") -> pd.Series:
        """The effect row at ``horizon`` months."""
        e = self.effects
        rows = e[(e["horizon"] == horizon) & (e["kind"] == kind)]
        if rows.empty:
            raise KeyError(f"no {kind} effect at {horizon} months")
        return rows.iloc[0]
