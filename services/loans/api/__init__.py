"""HTTP API of the loans service: one router module per area. Routes parse, call one service
function and present (``services.loans.presenters``); bodies live in ``services.loans.schemas``."""
