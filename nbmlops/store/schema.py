"""The metadata tables (SQLAlchemy Core) and the schema version they make up."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
)

#: Bump with a migration in ``store/migrations.py`` whenever a table changes.
SCHEMA_VERSION = 3

#: 64-bit on PostgreSQL (steps are often epoch milliseconds; files exceed 2 GiB); on SQLite
#: an autoincrement key must stay INTEGER to alias the rowid, and INTEGER is 64-bit there anyway.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

meta = Table(
    "nbmlops_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("python_version", String(64), nullable=False),
    Column("platform", String(250), nullable=False),
    Column("packages", Text, nullable=False),  # JSON {dist: version}
    Column("imported", Text, nullable=False),  # JSON {module: version}
    Column("upgraded", Text, nullable=False),  # JSON {module: {"imported":..,"on_disk":..}}
    Column("variables", Text, nullable=False),  # JSON, secrets redacted
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Column("parent_run_id", String(32), ForeignKey("runs.id")),
    Column("notebook_path", Text),
    Column("source", Text),
    Column("source_hash", String(64)),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("execution_count", Integer),
    Column("error", Text),
    Column("environment_hash", String(64), ForeignKey("environments.hash")),
    Column("provenance_status", String(16)),
    Column("provenance", Text),  # JSON {"reasons": [...], "variables": {...}}
    Column("heartbeat_at", Float),
    Column("pid", Integer),
    Column("host", String(250)),
    Index("ix_runs_status", "status"),
    # (start_time, id) in both: a page of runs, newest first, is read in index order and
    # stops at its LIMIT instead of sorting every run (schema version 2)
    Index("ix_runs_start", "start_time", "id"),
    Index("ix_runs_experiment_start_id", "experiment_id", "start_time", "id"),
    Index("ix_runs_parent", "parent_run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float),  # numeric view of value, for filters like params.alpha > 0.1
    Column("kind", String(8), nullable=False),  # "str", "json" or "repr"
    # run_id last: a filter's set of matching runs is read from the index alone, without
    # visiting the table once per matching row (schema version 3)
    Index("ix_params_key_value_run", "key", "value", "run_id"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float),  # NULL when is_nan (SQLite cannot hold NaN)
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index("ix_latest_metrics_key_value_run", "key", "value", "run_id"),  # as params
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("meta", Text),  # JSON: flavor, signature, input example... for models
)

datasets = Table(
    "datasets",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("shape", Text, nullable=False),
    Column("columns", Text, nullable=False),
    Column("dtypes", Text, nullable=False),
    Column("stats", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("fingerprint", String(64), ForeignKey("datasets.fingerprint"), nullable=False),
)

# registry -------------------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("description", Text),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(250), ForeignKey("registered_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("artifact_name", String(250), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("meta", Text, nullable=False),  # JSON: signature, input_example, trusted, class...
    Column("metrics", Text, nullable=False),  # JSON snapshot of the run's metrics
    Column("unsafe", Boolean, nullable=False, default=False),
    Column("description", Text),
    Column("tags", Text, nullable=False),  # JSON
    Column("created_at", Float, nullable=False),
    Column("created_by", String(250), nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(250), ForeignKey("registered_models.name"), primary_key=True),
    Column("alias", String(250), primary_key=True),
    Column("version", Integer, nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("alias", String(250), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),  # NULL when the alias was deleted
    Column("user", String(250), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text),
    Column("forced", Boolean, nullable=False, default=False),
    Index("ix_alias_history_name", "name", "at"),
)

check_results = Table(
    "check_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("batch_id", String(32), nullable=False),  # one %%modeltest execution
    Column("check", String(250), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("value", Text),  # JSON
    Column("threshold", Text),  # JSON
    Column("detail", Text),
    Column("at", Float, nullable=False),
    Index("ix_check_results_version", "name", "version", "at"),
)

# serving --------------------------------------------------------------------

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(250), nullable=False),
    Column("ref", String(250), nullable=False),  # what it follows: name@alias or name/version
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),  # resolved when started
    Column("url", Text, nullable=False),
    Column("host", String(250), nullable=False),
    Column("port", Integer, nullable=False),
    Column("pid", Integer),
    Column("hostname", String(250), nullable=False),  # machine whose pid this is
    Column("runtime", String(16), nullable=False),
    Column("workers", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # starting, running, stopped, dead, failed
    Column("started_at", Float, nullable=False),
    Column("stopped_at", Float),
    Column("log_path", Text),
    Index("ix_deployments_name", "name"),
)

prediction_logs = Table(
    "prediction_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON {column: [values]}
    Column("outputs", Text, nullable=False),  # JSON {"predictions": [...], ...}
    Column("latency_ms", Float, nullable=False),
    Column("endpoint", String(64), nullable=False),
    Index("ix_prediction_logs_request", "request_id"),
    Index("ix_prediction_logs_model_at", "model", "version", "at"),
)

prediction_feedback = Table(
    "prediction_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("model", String(250), nullable=False),
    Column("label", Text, nullable=False),  # JSON: one label per row of the request
    Column("at", Float, nullable=False),
    Index("ix_prediction_feedback_request", "request_id"),
)

# pipelines ------------------------------------------------------------------
# Added before the first release, so SCHEMA_VERSION stays 1 (create_all adds them).

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),  # the step run
    Column("pipeline", String(250), nullable=False),
    Column("step", String(250), nullable=False),
    Column("pipeline_run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("status", String(16), nullable=False),  # ran, cached, failed, skipped
    Column("reason", Text, nullable=False),
    Column("key", String(64)),  # sha256 of the whole fingerprint; NULL when not computed
    Column("fingerprint", Text),  # JSON: code cells, params, inputs, upstream
    Column("output_files", Text),  # JSON {path: sha256} of declared outputs after the run
    Column("outputs", Text),  # JSON {name: value} handed downstream
    Column("cached_from", String(32)),  # step run whose results a cached step reused
    Column("attempts", Integer, nullable=False, default=0),
    Column("duration", Float),
    Column("created_at", Float, nullable=False),
    Index("ix_pipeline_steps_lookup", "pipeline", "step", "key"),
    Index("ix_pipeline_steps_parent", "pipeline_run_id"),
)

step_outputs = Table(
    "step_outputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("created_at", Float, nullable=False),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("spec_path", Text, nullable=False),
    Column("cron", String(250)),  # NULL for alert-only schedules
    Column("params", Text, nullable=False),  # JSON
    Column("misfire", String(16), nullable=False),  # run-once or skip
    Column("on_alert", String(250)),  # model name whose monitoring alerts trigger a run
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("last_run_id", String(32)),
    Column("last_status", String(16)),
    Column("last_run_at", Float),
)

# monitoring -----------------------------------------------------------------
# New tables only (additive): migrate() creates them in stores that lack them.

drift_references = Table(
    "drift_references",
    metadata,
    Column("fingerprint", String(64), primary_key=True),  # datasets.fingerprint
    Column("payload", LargeBinary, nullable=False),  # DriftReference.to_bytes()
    Column("created_at", Float, nullable=False),
)

monitor_snapshots = Table(
    "monitor_snapshots",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", Float, nullable=False),  # when it was computed
    Column("window_start", Float),  # the traffic window it covers
    Column("window_end", Float),
    Column("requests", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("drift_share", Float),
    Column("accuracy", Float),
    Column("latency_p95_ms", Float),
    Column("error_rate", Float),
    Column("drift", Text, nullable=False),  # JSON {column: verdict/effect/p}
    Index("ix_monitor_snapshots_model", "model", "version", "at"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(250), nullable=False),  # registered model name
    Column("ref", String(250), nullable=False),  # what is evaluated: name@alias or name/3
    Column("metric", String(250), nullable=False),
    Column("op", String(4), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("min_rows", Integer, nullable=False),
    Column("window_s", Float),
    Column("on_alert", Text),  # pipeline.yaml path run when the rule fires
    Column("firing", Boolean, nullable=False, default=False),
    Column("last_value", Float),
    Column("last_checked_at", Float),
    Column("created_at", Float, nullable=False),
    Index("ix_alert_rules_model", "model"),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("rule_id", String(32), nullable=False),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("rule", Text, nullable=False),  # "drift_share > 0.3" as it read when fired
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("cleared_at", Float),
    Column("pipeline_runs", Text, nullable=False),  # JSON [{name, run_id, status, error}]
    Index("ix_alert_events_model", "model", "at"),
)


#: APScheduler's job store (its SQLAlchemyJobStore layout), on the store's own engine:
#: created and migrated with the other tables instead of by APScheduler beside them.
JOBS_TABLE = "nbmlops_scheduler_jobs"
scheduler_jobs = Table(
    JOBS_TABLE,
    metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
