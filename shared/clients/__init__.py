"""Typed clients of agrifin's services, for the other services (never their code or tables)."""
