"""The Textual UI. Thin: it turns keys into calls of ``station`` services and
shows what they return. Nothing in ``station`` or ``data`` imports this package.

``AREAS`` maps an area name to ``"module:Class"``; ``StationApp.open_area(name)``
imports the module only when the area is first opened, and shows a notification
(not a crash) when it is missing. ``AREA_KEYS`` says how the home screen offers
each area and which permission (``station.permissions`` action) a role needs
to see it.
"""
from __future__ import annotations

AREAS: dict[str, str] = {
    "sale": "screens.sale:SaleScreen",
    "drawer": "screens.drawer:DrawerScreen",
    "drawers": "screens.drawers_overview:DrawersOverviewScreen",
    "manager": "screens.manager:ManagerScreen",
    "returns": "screens.returns:ReturnsScreen",
    "reports": "screens.reports:ReportsScreen",
    "treasury": "screens.treasury:TreasuryScreen",
    "stock": "screens.stock:StockScreen",
}

#: area -> (home key, label, permission action a role needs to open it)
AREA_KEYS: dict[str, tuple[str, str, str]] = {
    "sale": ("f2", "Sale", "sale.ring_up"),
    "drawer": ("f3", "Drawer", "drawer.open"),
    "drawers": ("f4", "All drawers", "drawer.view_all"),
    "manager": ("f5", "Manager", "journal.view"),
    "returns": ("t", "Returns", "refund.process"),
    "reports": ("o", "Reports", "report.view"),
    "treasury": ("y", "Treasury", "treasury.view"),
    "stock": ("k", "Stock", "stock.view"),
}
