"""Model serving: an HTTP service for one registry model, and background deployments.

Importing this package is cheap; FastAPI, uvicorn and scikit-learn are imported by
the modules that need them (``app``, ``server``, ``runtime``).
"""
