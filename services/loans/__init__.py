"""The loans service: small agricultural loans from application to close.

Read top-down:

* ``app``           the FastAPI app and its routers (``api/``: products, applications, loans,
                    operations, inbound); ``api/deps`` holds the roles and ``LoansContextDep``
* ``schemas/``      request and response bodies; ``schemas.terms`` defines loan terms once,
                    for the API and for the JSON stored on products and loans
* ``presenters``    rows and domain results → response models (allowed actions included)
* ``domain/``       pure rules: terms, schedule engine, account replay, arrears, PAR, the
                    application and loan state machines (``lifecycle``), installment status,
                    Money outcomes, the replay of stored rows (``projection``), the
                    proceeds reconciliation's comparison (``reconciliation``), the decision
                    policy and the trade summary → marketplace features mapping
                    (``marketplace_features``)
* ``service/``      use cases: products, borrowers, applications (scored through
                    ``service.scoring``, marketplace features filled by
                    ``service.trade_history``), accounts, adjustments, proceeds, business date, close
                    of business (``cob``, ``cob_chunk``), portfolio, scoring retries; the
                    instructions to escrow (``escrow_instructions``: register, close, refund of
                    assignments of proceeds; ``escrow_delivery`` sends them) and the proceeds
                    reconciliation (``reconciliation``)
* ``repository/``   all SQL: products, borrowers, applications, accounts, business date, cob,
                    portfolio, escrow instructions
* ``jobs``          the worker's scoring retry, close of business and escrow instructions;
                    ``cli`` adds ``agrifin cob`` and ``agrifin reconcile proceeds``
* ``models``        the tables; ``settings`` (``LoansSettings``, ``LoansContext``), ``definition``
                    for the platform
"""
