"""All SQL of the escrow service: ``escrows``, ``ledger``, ``payments``, ``assignments``.

The lock order every writer follows is written down in ``ledger``'s docstring.
"""
