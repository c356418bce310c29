"""Tests of the scoring domain: pure, no database."""
