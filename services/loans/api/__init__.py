"""HTTP API of the loans service: one router module per area, schemas beside them."""
