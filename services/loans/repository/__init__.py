"""All SQL of the loans service: ``catalog`` (products, borrowers, business date, COB runs),
``applications``, ``accounts`` (one loan at a time) and ``bulk`` (close of business and the
portfolio, many loans per statement)."""
