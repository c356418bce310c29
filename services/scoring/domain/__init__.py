"""Pure scoring logic: specs, synthetic data, training, metrics, explanation, scale, receipts.

No SQL, no web framework, no HTTP client and no file I/O (``repository/`` reads and writes files).
"""
