"""Persistence of the scoring service: all SQL (``registry``, ``decisions``), the model-artifact
store on disk and its cache (``artifacts``), spec files (``specs``) and CSV/Parquet data files
(``datafiles``)."""
