"""``agrifin demo``: the whole value chain, told against the running system (``make run``).

A client of the four services only — it talks to them over REST through the typed clients
in ``shared/clients/`` (the import contract in ``pyproject.toml`` keeps it so) and never
reads their tables. Read top-down:

* ``cli``       registers ``agrifin demo``; every upstream error ends as one plain line, exit 1
* ``settings``  where the services are (``AGRIFIN_DEMO_*_URL``, else the services' own ports)
* ``people``    who acts: the development people of ``dev-users.json`` through the console's
                credential (maker-checker compares persons), the marketplace's own key
* ``clients``   each person's typed clients of the four services (``shared/clients/``)
* ``cast``      the cooperative, the farmers, the product and its decision policy (fixed data)
* ``progress``  readable output and bounded waiting for asynchronous effects
* ``market``    marketplace orders through escrow (trade history, season sales)
* ``lending``   applications scored with trade history, decided by policy or by a person
* ``season``    the business date through a season: sweeps, repayments, close of business
* ``reports``   PAR, proceeds reconciliation, model performance, audit verification
* ``story``     the steps in order
"""
