"""All SQL of the escrow service: ``escrows``, ``history``, ``ledger``, ``ledger_reports``, ``payments``,
``assignments``, ``parties``.

The lock order every writer follows is written down in ``ledger``'s docstring; ``account_ids``
remembers which ledger accounts are open, ``commit_tail`` applies balance changes at commit.
"""
