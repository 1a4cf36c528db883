"""Model registry: versions, aliases, test gates, cards and lineage."""
