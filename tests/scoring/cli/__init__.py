"""Tests of the scoring commands: train, score-batch, bootstrap."""
