"""The escrow service: a marketplace order's money held on a double-entry ledger until delivery.

Read top-down:

* ``app``          the FastAPI app and its routers (``api/``: escrows, lots, providers,
                   payouts, assignments, ledger)
* ``domain/``      pure rules: ledger, fees, assignment of proceeds, the escrow state machines
* ``service/``     use cases: decide with the domain, post to the ledger, emit events, audit
* ``repository/``  all SQL, and the lock order every writer follows (``repository.ledger``)
* ``providers/``   payment-provider adapters (the ``sandbox`` ships) and callback secrets
* ``jobs``         the worker's periodic jobs; ``cli`` adds ``agrifin ledger verify``
* ``models``       the tables; ``settings``, ``definition`` for the platform
"""
