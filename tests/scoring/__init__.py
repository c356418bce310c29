"""API and database tests of the scoring service."""
