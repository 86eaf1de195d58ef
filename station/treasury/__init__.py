"""The treasury: the store's money beyond the drawers (data/treasury.py holds its tables).

  ledger.py     funds, the posting of ledger entries (fund rows locked, cached
                balance and the fund's hash chain moved, one journal row per entry,
                automatic replenishment asked), transfers, reading a fund's ledger
  payments.py   requisitions: request, approve, reject, execute (TOTP inside the
                executing transaction, once per requisition), failures and retries
  custody.py    cash bags: drawer drops and closes sealed into transit, floats issued,
                bags received into the safe by count, bank deposits
  variances.py  fund counts and the variances they find, decided by a second person
  replenish.py  replenishment requests: manual, decided, funded by a transfer
  reconcile.py  payments and deposits matched against the bank statement
  queries.py    what the screens and the CLI list
  checks.py     ``station verify`` checks of this area
  settings.py   the [treasury] config section

This package's ``__init__`` imports nothing: ``station.config`` reads ``settings``.
"""
