"""Tests of the scoring use cases: registry, promotion, shadow scoring."""
