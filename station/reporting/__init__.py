"""Reports a shop owner reads: sales, products, slow movers, profit, cashiers,
tax, stock, and the dashboard's figures (``service``), over summary tables kept
from the journal (``summary``), in the store's business days (``periods``),
exported as CSV or JSON (``export``)."""
