"""Products managed at the till and stock that moves with every sale (issue 11):
movements and on-hand (``movements``), products, barcodes and prices
(``products``), deliveries (``receiving``), adjustments, low-stock alerts,
counts, and their ``verify`` checks (``checks``)."""
