"""Use cases of the scoring service: load via the repository, call the domain, flush, audit, emit."""
