"""The console: the web application loan officers, credit managers, auditors and marketplace
operators work in. Server-rendered (Jinja2, htmx as progressive enhancement), it talks to
scoring, escrow and loans over REST through ``shared.clients`` and never touches their tables.

Read top-down:

``settings``     ``ConsoleSettings`` (``AGRIFIN_CONSOLE_*``): port 8000, the services' URLs, sessions
``definition``   the platform's view: name, tables, migrations
``models``       users, sessions, failed sign-ins (the console's own database)
``app``          ``create_app``: pages, static files, HTML error pages, the platform routes
``api/``         pages and form posts, one module per area; ``deps`` says who may open what
``service/``     use cases: users and passwords (argon2), sessions, sign-in throttling, the
                 typed clients bound to the signed-in person, the page data each area needs
``repository/``  the SQL of users, sessions and sign-in failures
``domain/``      pure rules: masking personal data, formatting money and dates, throttling,
                 charts as SVG
``templates/``   Jinja2 pages; ``static/`` htmx (vendored) and the style sheet;
``locale/``      the gettext catalogues (Babel): English source, Simplified Chinese
``cli``          ``agrifin users create|list|disable``
``bootstrap``    one development user per role, written to ``var/dev-users.json``
"""
