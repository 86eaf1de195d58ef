"""Returns, refunds, post-voids and exchanges (``station.refund.service``), finding
the sale (``lookup``), the amounts (``amounts``), the approval rules (``rules``),
the refund receipt (``receipt``) and the ``station verify`` checks (``checks``)."""
