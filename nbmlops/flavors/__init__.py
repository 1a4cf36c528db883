"""Model formats: save/load models by kind, infer input signatures."""
