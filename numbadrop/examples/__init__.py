"""Runnable examples: ``python -m numbadrop.examples.train_mlp``."""
