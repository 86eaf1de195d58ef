"""The [treasury] config section (plain data: ``station.config`` merges it into
its SCHEMA and RANGES and calls :func:`validate`)."""
from __future__ import annotations

from typing import Any

SCHEMA: dict[str, dict[str, tuple[str, Any, str]]] = {
    "treasury": {
        "safe_fund": ("str", "safe", "fund that receives drawer drop and close bags"),
        "transit_fund": ("str", "transit", "fund holding sealed bags on their way (drops, closes, deposits)"),
        "bank_fund": ("str", "bank", "fund a bank deposit is paid into"),
        "float_fund": ("str", "", "fund a drawer's float is issued from and returned to at close "
                       "(empty: floats are not tracked by the treasury)"),
        "execute_window_minutes": ("int", 5, "a payment must be executed this many minutes after its approval"),
        "max_retries": ("int", 3, "failed execution attempts before a requisition is marked failed"),
    },
}

RANGES: dict[str, tuple[int, int]] = {
    "treasury.execute_window_minutes": (1, 24 * 60),
    "treasury.max_retries": (0, 100),
}


def validate(values: dict, source) -> list[str]:
    t = values["treasury"]
    out = []
    for key in ("safe_fund", "transit_fund", "bank_fund"):
        if not t[key].strip():
            out.append(f"key treasury.{key}{source(f'treasury.{key}')} must name a fund")
    if t["safe_fund"] == t["transit_fund"]:
        out.append(f"key treasury.transit_fund{source('treasury.transit_fund')} must be another fund than the safe")
    return out
