import { requestAPI } from './request';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface IRunSummary {
  run_id: string;
  name: string;
  experiment: string;
  status: string;
  start_time: string | null;
  end_time: string | null;
  duration: number | null;
  parent_run_id: string | null;
  provenance?: string | null;
  params: Record<string, Json>;
  metrics: Record<string, number>;
}

export interface IRunsPage {
  runs: IRunSummary[];
  next_page_token: string | null;
  total: number;
  store?: 'ok' | 'empty';
}

export interface IMetricPoint {
  step: number;
  value: number;
}

export interface IRunDetail extends IRunSummary {
  notebook_path: string | null;
  /** the notebook's path relative to the server root (null when outside it) */
  notebook: string | null;
  execution_count: number | null;
  source: string | null;
  git_commit: string | null;
  git_dirty: boolean | null;
  error: string | null;
  metric_history: Record<string, IMetricPoint[]>;
  tags: Record<string, string>;
  artifacts: { name: string; size: number; media_type: string }[];
  datasets: { name: string; fingerprint: string; role: string; shape: number[] }[];
  provenance: any;
}

export interface ICheckResult {
  check: string;
  passed: boolean;
  value: Json;
  threshold: Json;
  detail: string | null;
}

export interface IModelVersion {
  version: number;
  aliases: string[];
  run_id: string;
  flavor: string;
  unsafe_pickle: boolean;
  checks: string;
  created_at: string;
  created_by: string;
  metrics: Record<string, number>;
  check_results?: ICheckResult[];
}

export interface IModel {
  name: string;
  latest_version: number;
  description: string | null;
  created_at: string;
  aliases: Record<string, number>;
  /** per alias, the version a rollback moves it back to (null: it has no earlier one) */
  rollback_to: Record<string, number | null>;
  versions: IModelVersion[];
}

export interface IModelDetail {
  name: string;
  versions: IModelVersion[];
  aliases: Record<string, number>;
  rollback_to: Record<string, number | null>;
  card: string;
  alias_history: Record<string, Json>[];
}

export interface IPromotion {
  name: string;
  alias: string;
  version: number;
  aliases: string[];
}

export interface IDeployment {
  id: string;
  name: string;
  ref: string;
  model: string;
  version: number;
  url: string;
  status: string;
  runtime: string;
  workers: number;
  started_at: number;
  stopped_at: number | null;
  health: { ok: boolean; latency_ms: number | null; version: number | null; error: string | null } | null;
}

export interface IPipelineStep {
  step: string;
  run_id: string;
  status: string;
  reason: string;
  duration: number | null;
  attempts: number | null;
  cached_from: string | null;
  executed_notebook: string | null;
}

export interface IPipelineRun extends IRunSummary {
  pipeline: string;
  steps: IPipelineStep[];
}

export interface IStatus {
  version: string;
  store_url: string;
  home: string;
  empty: boolean;
}

export interface IStepJob {
  job_id: string;
  notebook: string;
  status: 'running' | 'finished' | 'failed';
  run_id: string | null;
  pipeline_run_id: string | null;
  steps: { step: string; status: string; reason: string }[];
  error: string | null;
}

export interface IRunsQuery {
  filter?: string;
  experiment?: string;
  order_by?: string;
  page_size?: number;
  page_token?: string | null;
}

const enc = encodeURIComponent;

/** The typed client of the nbmlops server extension: one method per route. */
export class NbmlopsClient {
  status(): Promise<IStatus> {
    return requestAPI<IStatus>('status');
  }

  runs(query: IRunsQuery = {}): Promise<IRunsPage> {
    return requestAPI<IRunsPage>('runs', {}, { ...query });
  }

  run(runId: string): Promise<IRunDetail> {
    return requestAPI<IRunDetail>(`runs/${enc(runId)}`);
  }

  diff(a: string, b: string): Promise<Record<string, Json>> {
    return requestAPI(`runs/${enc(a)}/diff/${enc(b)}`);
  }

  models(): Promise<{ models: IModel[] }> {
    return requestAPI('models');
  }

  model(name: string): Promise<IModelDetail> {
    return requestAPI<IModelDetail>(`models/${enc(name)}`);
  }

  setAlias(name: string, alias: string, version: number, reason: string): Promise<IPromotion> {
    return requestAPI<IPromotion>(`models/${enc(name)}/aliases/${enc(alias)}`, {
      method: 'PUT',
      body: JSON.stringify({ version, reason })
    });
  }

  deployments(): Promise<{ deployments: IDeployment[] }> {
    return requestAPI('deployments');
  }

  pipelines(): Promise<{ pipelines: IPipelineRun[] }> {
    return requestAPI('pipelines');
  }

  runNotebookStep(notebook: string): Promise<IStepJob> {
    return requestAPI<IStepJob>('pipelines/steps', {
      method: 'POST',
      body: JSON.stringify({ notebook })
    });
  }

  stepJob(jobId: string): Promise<IStepJob> {
    return requestAPI<IStepJob>(`pipelines/steps/${enc(jobId)}`);
  }
}
