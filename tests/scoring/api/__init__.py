"""Tests of the scoring HTTP API (a fresh database per test)."""
