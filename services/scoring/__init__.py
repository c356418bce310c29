"""The scoring service: explained, signed credit scores for farmers and agricultural enterprises.

Read top-down:

* ``app``          the FastAPI app and its routers (``api/``: scores, models, ``training``
                   (uploads, train, training jobs), ``artifacts`` (the model file a replay
                   needs), segments, monitoring, keys; ``api.deps``: roles, the typed context,
                   store, language)
* ``schemas/``     request and response bodies, one module per resource (scores, models,
                   segments, monitoring, keys); ``presenters`` turns stored rows (and a new
                   decision's values) into them
* ``service/``     use cases: score and sign, list and draw (``decisions``), ``replay``, the
                   model ``registry`` (train, register, promote, champion history, cards),
                   ``segments``, ``monitoring`` (PSI, fairness), ``performance`` against
                   outcomes, ``outcomes`` (loans' events), ``loans_subscription`` (scoring
                   subscribes itself to them), ``training_jobs`` (train on an upload in the
                   worker), ``batch`` scoring of files, in process or on Dask (``dask_batch``),
                   and ``dask_training`` (``lightgbm.dask``); they flush, never commit
* ``repository/``  persistence: SQL of the ``registry`` and ``decisions``, the model-artifact
                   store on disk (``artifacts``), ``specs`` files, CSV/Parquet ``datafiles``,
                   ``training_uploads``, partitioned inputs for Dask (``dask_files``)
* ``domain/``      pure: feature ``spec`` (pydantic), the model ``matrix``, ``synthetic`` data,
                   ``training`` (with ``training_data`` checks and Optuna ``tuning`` under
                   nested CV) and ``metrics``, the ``model`` and its text form, ``explain``
                   (TreeSHAP points), ``points`` (integer points by largest remainder),
                   ``scale``, ``receipt`` (the payload it signs; the format and its
                   verification are ``shared.receipts``), ``replay`` (recompute and compare,
                   offline: the service and ``agrifin replay`` share it), ``monitoring``, model
                   ``card``, ``waterfall`` (bars and PNG) and ``waterfall_svg``,
                   ``performance`` and its chart ``performance_svg`` (both charts open with
                   ``svg``), ``examples``, ``provenance`` (the caller's feature sources,
                   checked and completed)
* ``jobs``         the worker runs queued training jobs (``POST /v1/models/train`` queues one,
                   on synthetic data or an upload)
                   and subscribes scoring to loans' ``loan.outcome`` (``scoring.loans.subscribe``)
* ``bootstrap``    first start: a champion per built-in segment; ``cli`` adds ``agrifin
                   train`` (``cli``), ``score-batch`` (``cli_batch``), ``verify-receipt`` and
                   ``replay`` (``cli_receipts``)
* ``models``       the tables; ``settings`` (``ScoringSettings``, ``ScoringContext``),
                   ``definition`` for the platform; ``specs/`` the built-in segments' YAML
"""
