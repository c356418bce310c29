"""The loans service: small agricultural loans from application to close.

Read top-down:

* ``app``           the FastAPI app and its routers (``api/``: products, applications, loans,
                    operations, inbound); ``api/deps`` holds the roles and ``LoansContextDep``
* ``schemas/``      request and response bodies; ``schemas.terms`` defines loan terms once,
                    for the API and for the JSON stored on products and loans
* ``presenters``    rows and domain results → response models (allowed actions included)
* ``domain/``       pure rules: terms, schedule engine, account replay, arrears, PAR, the
                    application and loan state machines (``lifecycle``), installment status,
                    Money outcomes, and the replay of stored rows (``projection``)
* ``service/``      use cases: products, borrowers, applications (scored through
                    ``service.scoring``), accounts, adjustments, proceeds, business date, close
                    of business (``cob``, ``cob_chunk``), portfolio, scoring retries
* ``repository/``   all SQL: products, borrowers, applications, accounts, business date, cob,
                    portfolio
* ``jobs``          the worker's scoring retry and close of business; ``cli`` adds ``agrifin cob``
* ``models``        the tables; ``settings`` (``LoansSettings``, ``LoansContext``), ``definition``
                    for the platform
"""
