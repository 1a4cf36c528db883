"""Interoperability with other trackers: MLflow export and import."""
