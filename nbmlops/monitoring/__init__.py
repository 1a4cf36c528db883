"""Monitoring: data drift against the training data's statistics, live performance."""
