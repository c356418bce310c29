"""Use cases of the loans service: load through the repository, decide with the domain,
flush, audit and emit events. They never commit (the request's unit of work does), except
the jobs in ``scoring_retry`` and ``cob`` which own their transactions."""
