"""Every ``NBMLOPS_*`` environment variable nbmlops reads: one table, the docs' source.

A test scans the package for ``NBMLOPS_*`` names and fails when one is missing here, so
the configuration reference (generated from this table) cannot drift from the code.
"""

from __future__ import annotations

#: name -> (default, who sets it, what it does)
VARIABLES: dict[str, tuple[str, str, str]] = {
    "NBMLOPS_HOME": (".nbmlops/ found upwards from the working directory", "user",
                     "The folder holding the default SQLite store and artifacts."),
    "NBMLOPS_STORE_URL": ("sqlite:///<home>/nbmlops.db", "user",
                          "Metadata database URL: sqlite:///… or postgresql+psycopg://…"),
    "NBMLOPS_ARTIFACT_URL": ("<home>/artifacts", "user",
                             "Artifact store: a folder or any fsspec URL (s3://…, gs://…)."),
    "NBMLOPS_FLUSH_INTERVAL": ("1.0", "user",
                               "Seconds between background flushes of buffered metrics."),
    "NBMLOPS_HEARTBEAT_TIMEOUT": ("30.0", "user",
                                  "Seconds without a heartbeat before a remote run is KILLED."),
    "NBMLOPS_TRUSTED_TYPES": ("(none)", "user",
                              "Extra comma-separated types skops may load (serving process)."),
    "NBMLOPS_SERVE_TOKEN": ("(none; required off loopback)", "user",
                            "Bearer token the model server requires."),
    "NBMLOPS_SERVE_MAX_ROWS": ("100000", "user",
                               "Rows one prediction request may hold (413 beyond)."),
    "NBMLOPS_SERVE_T0": ("(none)", "nbmlops",
                         "Set by deploy(): when the server start was asked for (timings)."),
    "NBMLOPS_WARM_HOST": ("1", "user",
                          "0: deploy() starts each server as a fresh process, not forked "
                          "from the kernel's warm host."),
    "NBMLOPS_PREWARM": ("1", "user",
                        "When the warm host starts (idle priority) before the first deploy: "
                        "1 when a model is registered in a notebook that ran %load_ext "
                        "nbmlops, load also at %load_ext, 0 only at the first deploy."),
    "NBMLOPS_PARENT_RUN_ID": ("(none)", "nbmlops",
                              "Set by the pipeline runner: the run a step's runs nest under."),
    "NBMLOPS_NOTEBOOK_PATH": ("(detected)", "nbmlops",
                              "The notebook a kernel runs, when the frontend cannot tell."),
    "NBMLOPS_OUTPUTS_FILE": ("(none)", "nbmlops",
                             "Set by the pipeline runner: where nbmlops.output() appends."),
    "NBMLOPS_CHECK_BATCH_ID": ("(none)", "nbmlops",
                               "Set by `models check --notebook`: groups check results."),
    "NBMLOPS_PIPELINE_STEP": ("(none)", "nbmlops", "Set by the pipeline runner: the step."),
    "NBMLOPS_PIPELINE_RUN_ID": ("(none)", "nbmlops",
                                "Set by the pipeline runner: the pipeline's run id."),
    "NBMLOPS_REQUIRE_ALL": ("(unset)", "CI",
                            "Tests that need a server, browser or PostgreSQL fail instead of "
                            "skipping."),
    "NBMLOPS_TEST_PG_URL": ("(unset)", "CI", "PostgreSQL URL for the shared-store tests."),
}
