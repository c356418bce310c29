"""Request and response bodies of the loans API (pydantic); money is integer minor units.

* ``terms``         loan terms, once for the API and the JSON stored on products and loans
* ``products``      products, schedule previews, borrowers
* ``applications``  applications, scores, decisions
* ``loans``         loans, schedules, transactions and allocations
* ``operations``    the business date and close of business
"""
