"""All SQL of the scoring service: the model registry and the stored decisions."""
