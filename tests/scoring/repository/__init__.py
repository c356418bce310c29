"""Tests of the scoring persistence: model-artifact files and spec files."""
