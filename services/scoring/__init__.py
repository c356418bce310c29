"""The scoring service: explained, signed credit scores for farmers and agricultural enterprises.

Read top-down:

* ``app``          the FastAPI app and its routers (``api/``: scores, models, segments,
                   monitoring, keys; ``api.deps``: roles, the typed context, store, language)
* ``schemas/``     request and response bodies, one module per resource (scores, models,
                   segments, monitoring, keys); ``presenters`` turns stored rows into them
* ``service/``     use cases: score and sign, list and draw (``decisions``), ``replay``, the
                   model ``registry`` (train, register, promote, champion history, cards),
                   ``segments``, ``monitoring`` (PSI, fairness), ``performance`` against
                   outcomes, ``outcomes`` (loans' events), ``loans_subscription`` (scoring
                   subscribes itself to them), ``batch`` scoring of files; they flush, never commit
* ``repository/``  persistence: SQL of the ``registry`` and ``decisions``, the model-artifact
                   store on disk (``artifacts``), ``specs`` files, CSV/Parquet ``datafiles``
* ``domain/``      pure: feature ``spec`` (pydantic), the model ``matrix``, ``synthetic`` data,
                   ``training`` and ``metrics``, the ``model`` and its text form, ``explain``
                   (TreeSHAP points), ``scale``, ``receipt`` (the payload it signs; the format
                   and its verification are ``shared.receipts``), ``monitoring``, model
                   ``card``, ``waterfall`` (bars and PNG) and ``waterfall_svg``,
                   ``performance`` and its chart ``performance_svg`` (both charts open with
                   ``svg``), ``examples``, ``provenance`` (the caller's feature sources,
                   checked and completed)
* ``jobs``         the worker runs queued training jobs (``POST /v1/models/train`` queues one)
                   and subscribes scoring to loans' ``loan.outcome`` (``scoring.loans.subscribe``)
* ``bootstrap``    first start: a champion per built-in segment; ``cli`` adds ``agrifin
                   train``, ``score-batch`` and ``verify-receipt``
* ``models``       the tables; ``settings`` (``ScoringSettings``, ``ScoringContext``),
                   ``definition`` for the platform; ``specs/`` the built-in segments' YAML
"""
