"""Payments that finish elsewhere: mobile money (M-Pesa STK push, Airtel Money) and
card gateways, with a pending state that never loses or doubles a payment.

  provider.py      the interface every provider implements (cash, manual, mpesa, airtel,
                   card_gateway: one module each) and the registry: method -> provider
  service.py       the pending-payment state machine (start, watch, cancel, settle,
                   apply in the sale, refund, the flagged "paid twice, refund due" items)
  receiver.py      the callback receiver (``station payments serve``, an ASGI app)
  reconcile.py     ``station payments reconcile``: list, settle stale, match a statement
  checks.py        ``station verify`` checks of this area
  phone.py         Kenyan phone numbers as cashiers type them
  settings.py      the config sections (credentials from the file or the environment)

This package's ``__init__`` imports nothing: ``station.config`` reads ``settings``.
"""
