"""Pure domain of the escrow service: no web framework, no SQL, no clock.

* ``ledger``      double-entry accounts, legs, balanced immutable entries, balances
* ``fees``        the platform fee on released money
* ``assignment``  a seller's proceeds assigned to a lender, up to a cap
* ``model``       escrow and lot state, statuses, actions, money movements, errors
* ``lifecycle``   the state machines: which action is allowed when, and what money it moves
* ``postings``    the journal entries for each money movement; per-escrow totals

The API and the repository build on these; nothing here imports them.
"""
