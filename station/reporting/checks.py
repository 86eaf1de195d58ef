"""``station verify`` check of the report summary tables."""
from __future__ import annotations

from station.checks import check
from station.reporting import summary


@check("report.summary_equals_rows")
def summary_equals_rows(ctx) -> list[str]:
    """the report summaries (by day, hour, terminal, cashier, product, month, method, tax rate) equal a recomputation from the sales, refunds and journal rows"""
    return summary.differences(ctx)
