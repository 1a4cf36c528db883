"""Notebook pipelines: papermill steps with caching, parallel/Dask execution, schedules.

``spec`` parses pipeline.yaml, ``runner`` executes it, ``cache`` decides what can be
reused, ``executors`` run steps locally or on Dask, ``schedules``/``scheduler`` run
pipelines on a cron, ``reproduce`` re-executes a recorded run and compares metrics.
"""
