import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Poll } from '@lumino/polling';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  IDeployment,
  IModel,
  IPipelineRun,
  IRunSummary,
  IRunsPage,
  IStatus,
  NbmlopsClient
} from './api';
import { ago, fmtDuration, fmtNumber, fmtThreshold, h, setChildren, statusBadge } from './dom';
import { ApiError } from './request';

export const SIDEBAR_ID = 'nbmlops-sidebar';
const PAGE_SIZE = 50;

export interface ISidebarOptions {
  client: NbmlopsClient;
  /** open a run's detail in the main area */
  openRun: (runId: string) => void;
  /** open a file (a notebook) by its path relative to the server root */
  openPath: (path: string) => void;
  /** seconds between refreshes while the panel is visible */
  interval: number;
}

/** Ask for the alias and reason of a promotion (or only the reason of a rollback). */
class AliasForm extends Widget {
  readonly alias: HTMLInputElement;
  readonly reason: HTMLTextAreaElement;

  constructor(alias: string, aliasEditable: boolean, prompt: string) {
    super();
    this.addClass('nbmlops-alias-form');
    this.alias = h('input', {
      class: 'jp-mod-styled nbmlops-alias-input',
      value: alias,
      'aria-label': 'alias'
    });
    this.alias.readOnly = !aliasEditable;
    this.reason = h('textarea', {
      class: 'jp-mod-styled nbmlops-reason-input',
      rows: '3',
      placeholder: 'why (kept in the audit log)',
      'aria-label': 'reason'
    });
    this.node.append(
      h('p', {}, prompt),
      h('label', {}, 'Alias', this.alias),
      h('label', {}, 'Reason', this.reason)
    );
  }

  getValue(): { alias: string; reason: string } {
    return { alias: this.alias.value.trim(), reason: this.reason.value.trim() };
  }
}

/** The left-sidebar MLOps panel: runs, models, deployments, pipelines. */
export class MlopsSidebar extends Widget {
  readonly poll: Poll;
  private client: NbmlopsClient;
  private options: ISidebarOptions;
  private filter = '';
  private loaded = PAGE_SIZE;
  private runs: IRunSummary[] = [];
  private nextToken: string | null = null;
  private refusals = new Map<string, HTMLElement>();
  private banner: HTMLElement;
  private storeLine: HTMLElement;
  private runsCount: HTMLElement;
  private filterInput: HTMLInputElement;
  private filterError: HTMLElement;
  private runsBody: HTMLElement;
  private modelsBody: HTMLElement;
  private deploymentsBody: HTMLElement;
  private pipelinesBody: HTMLElement;

  constructor(options: ISidebarOptions) {
    super();
    this.options = options;
    this.client = options.client;
    this.id = SIDEBAR_ID;
    this.addClass('nbmlops-sidebar');
    this.title.caption = 'MLOps: runs, models, deployments, pipelines';

    this.banner = h('div', { class: 'nbmlops-banner', role: 'alert', hidden: true });
    this.storeLine = h('div', { class: 'nbmlops-store' });
    this.runsCount = h('span', { class: 'nbmlops-count' });
    this.filterInput = h('input', {
      class: 'jp-mod-styled nbmlops-filter',
      type: 'search',
      placeholder: 'metrics.acc > 0.9',
      'aria-label': 'filter runs',
      title: 'The same expressions as nbmlops.runs(filter=...); Enter to apply',
      onkeydown: (ev: Event) => {
        if ((ev as KeyboardEvent).key === 'Enter') {
          this.applyFilter();
        }
      }
    });
    this.filterError = h('div', { class: 'nbmlops-filter-error', role: 'alert', hidden: true });
    this.runsBody = h('div', { class: 'nbmlops-section-body' });
    this.modelsBody = h('div', { class: 'nbmlops-section-body' });
    this.deploymentsBody = h('div', { class: 'nbmlops-section-body' });
    this.pipelinesBody = h('div', { class: 'nbmlops-section-body' });

    this.node.append(
      h(
        'header',
        { class: 'nbmlops-header' },
        h('h2', {}, 'MLOps'),
        h(
          'button',
          {
            class: 'jp-Button jp-mod-minimal nbmlops-refresh',
            title: 'Refresh now',
            onclick: () => void this.poll.refresh()
          },
          '⟳'
        )
      ),
      this.storeLine,
      this.banner,
      this.section('runs', ['Runs ', this.runsCount], [
        h('div', { class: 'nbmlops-filter-row' }, this.filterInput),
        this.filterError,
        this.runsBody
      ]),
      this.section('models', ['Models'], [this.modelsBody]),
      this.section('deployments', ['Deployments'], [this.deploymentsBody]),
      this.section('pipelines', ['Pipelines'], [this.pipelinesBody])
    );

    this.poll = new Poll({
      name: 'nbmlops:sidebar',
      factory: () => this.refresh(),
      frequency: { interval: options.interval * 1000, backoff: true, max: 300 * 1000 },
      // stand by while the panel is collapsed or the browser tab is hidden
      standby: () => !this.isVisible || 'when-hidden'
    });
  }

  setInterval(seconds: number): void {
    this.poll.frequency = { ...this.poll.frequency, interval: seconds * 1000 };
  }

  dispose(): void {
    this.poll.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.poll.refresh();
  }

  private section(key: string, title: (string | HTMLElement)[], body: HTMLElement[]): HTMLElement {
    return h(
      'details',
      { class: `nbmlops-section nbmlops-section-${key}`, open: true },
      h('summary', {}, ...title),
      ...body
    );
  }

  private applyFilter(): void {
    this.filter = this.filterInput.value.trim();
    this.loaded = PAGE_SIZE;
    void this.poll.refresh();
  }

  /** Read everything once; a network failure rejects so that the poll backs off. */
  async refresh(): Promise<void> {
    let status: IStatus;
    try {
      status = await this.client.status();
    } catch (error) {
      this.showBanner(error);
      throw error;
    }
    this.banner.hidden = true;
    this.storeLine.textContent = `store: ${status.home} · nbmlops ${status.version}`;
    this.storeLine.title = status.store_url;
    await Promise.all([
      this.refreshRuns(status),
      this.guard(this.modelsBody, async () => this.renderModels((await this.client.models()).models)),
      this.guard(this.deploymentsBody, async () =>
        this.renderDeployments((await this.client.deployments()).deployments)
      ),
      this.guard(this.pipelinesBody, async () =>
        this.renderPipelines((await this.client.pipelines()).pipelines)
      )
    ]);
  }

  private showBanner(error: unknown): void {
    this.banner.hidden = false;
    const what =
      error instanceof ApiError
        ? error.message
        : error instanceof ServerConnection.NetworkError
          ? 'the Jupyter server does not answer'
          : String(error);
    this.banner.textContent = `Cannot read the nbmlops store: ${what}. Retrying…`;
  }

  /** Show a section's own error inside it (a 503 store problem, say) without failing the rest. */
  private async guard(body: HTMLElement, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (error instanceof ApiError) {
        setChildren(body, h('div', { class: 'nbmlops-error' }, error.message));
        return;
      }
      throw error;
    }
  }

  private async refreshRuns(status: IStatus): Promise<void> {
    let page: IRunsPage;
    try {
      page = await this.client.runs({
        filter: this.filter || undefined,
        page_size: Math.min(this.loaded, 1000)
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'bad_request') {
        this.filterError.hidden = false;
        this.filterError.textContent = error.message;
        this.filterInput.classList.add('nbmlops-invalid');
        return;
      }
      if (error instanceof ApiError) {
        setChildren(this.runsBody, h('div', { class: 'nbmlops-error' }, error.message));
        return;
      }
      throw error;
    }
    this.filterError.hidden = true;
    this.filterInput.classList.remove('nbmlops-invalid');
    this.runs = page.runs;
    this.nextToken = page.next_page_token;
    this.runsCount.textContent = `(${page.total})`;
    if (status.empty && !this.filter) {
      setChildren(this.runsBody, this.howToStart());
      return;
    }
    this.renderRuns();
  }

  private howToStart(): HTMLElement {
    return h(
      'div',
      { class: 'nbmlops-empty' },
      h('p', {}, 'No runs yet. Track a cell in any notebook under this folder:'),
      h(
        'pre',
        {},
        '%load_ext nbmlops\n\n%%track train --metrics acc\nacc = 0.93'
      ),
      h(
        'p',
        {},
        'or put the cursor in a cell and run “Track this cell” from the command palette (nbmlops).'
      )
    );
  }

  private renderRuns(): void {
    if (this.runs.length === 0) {
      setChildren(this.runsBody, h('div', { class: 'nbmlops-muted' }, 'No run matches this filter.'));
      return;
    }
    const list = h(
      'ul',
      { class: 'nbmlops-runs' },
      this.runs.map(run => this.runItem(run))
    );
    const more = this.nextToken
      ? h(
          'button',
          {
            class: 'jp-Button jp-mod-styled nbmlops-more',
            onclick: () => void this.loadMore()
          },
          'Load more'
        )
      : null;
    setChildren(this.runsBody, list, more);
  }

  private runItem(run: IRunSummary): HTMLElement {
    const metrics = Object.entries(run.metrics)
      .slice(0, 3)
      .map(([k, v]) => `${k} ${fmtNumber(v)}`)
      .join(' · ');
    return h(
      'li',
      {
        class: 'nbmlops-run',
        'data-run-id': run.run_id,
        tabindex: '0',
        title: `${run.name} (${run.run_id})\nclick for params, metrics, curves and provenance`,
        onclick: () => this.options.openRun(run.run_id),
        onkeydown: (ev: Event) => {
          if ((ev as KeyboardEvent).key === 'Enter') {
            this.options.openRun(run.run_id);
          }
        }
      },
      h('div', { class: 'nbmlops-run-line' }, statusBadge(run.status), h('b', {}, run.name)),
      h(
        'div',
        { class: 'nbmlops-run-meta' },
        `${run.experiment} · ${ago(run.start_time)}`,
        run.duration !== null ? ` · ${fmtDuration(run.duration)}` : ''
      ),
      metrics ? h('div', { class: 'nbmlops-run-metrics' }, metrics) : null
    );
  }

  private async loadMore(): Promise<void> {
    if (!this.nextToken) {
      return;
    }
    try {
      const page = await this.client.runs({
        filter: this.filter || undefined,
        page_size: PAGE_SIZE,
        page_token: this.nextToken
      });
      this.runs = [...this.runs, ...page.runs];
      this.loaded = this.runs.length;
      this.nextToken = page.next_page_token;
      this.renderRuns();
    } catch (error) {
      Notification.error(`Could not load more runs: ${(error as Error).message}`);
    }
  }

  // models ---------------------------------------------------------------------------
  private renderModels(models: IModel[]): void {
    if (models.length === 0) {
      setChildren(
        this.modelsBody,
        h(
          'div',
          { class: 'nbmlops-muted' },
          'No model registered yet. In a notebook: ',
          h('code', { class: 'nbmlops-nowrap' }, '%register NAME --run last')
        )
      );
      return;
    }
    setChildren(this.modelsBody, models.map(model => this.modelBlock(model)));
  }

  private modelBlock(model: IModel): HTMLElement {
    const refusal = this.refusals.get(model.name) ?? h('div', { class: 'nbmlops-refused', hidden: true });
    this.refusals.set(model.name, refusal);
    const aliases = Object.entries(model.aliases).map(([alias, version]) => {
      // a rollback only where the alias pointed somewhere else before (a first assignment
      // has nowhere to go back to), naming the version it would return to
      const target = model.rollback_to?.[alias] ?? null;
      return h(
        'li',
        { class: 'nbmlops-alias-row' },
        h('span', { class: 'nbmlops-alias' }, `@${alias}`),
        ` → v${version} `,
        target === null
          ? ''
          : h(
              'button',
              {
                class: 'jp-Button jp-mod-minimal nbmlops-rollback',
                title: `Move @${alias} back to v${target}, the version it pointed at before`,
                onclick: () => void this.rollback(model.name, alias, refusal)
              },
              `Roll back to v${target}`
            )
      );
    });
    const versions = model.versions.slice(0, 5).map(v =>
      h(
        'li',
        { class: 'nbmlops-version', 'data-version': String(v.version) },
        h('b', {}, `v${v.version}`),
        ' ',
        v.aliases.map(a => h('span', { class: 'nbmlops-alias' }, `@${a}`)),
        h(
          'span',
          {
            class: `nbmlops-checks ${v.checks.includes('failed') ? 'nbmlops-checks-failed' : v.checks.includes('passed') ? 'nbmlops-checks-passed' : ''}`
          },
          v.checks
        ),
        h(
          'button',
          {
            class: 'jp-Button jp-mod-minimal nbmlops-promote',
            title: `Point an alias at ${model.name}/${v.version} (only if its checks passed)`,
            onclick: () => void this.promote(model, v.version, refusal)
          },
          'Promote…'
        )
      )
    );
    return h(
      'div',
      { class: 'nbmlops-model', 'data-model': model.name },
      h('div', { class: 'nbmlops-model-name' }, h('b', {}, model.name), ` · ${model.versions.length} version(s)`),
      aliases.length ? h('ul', { class: 'nbmlops-aliases' }, aliases) : null,
      h('ul', { class: 'nbmlops-versions' }, versions),
      refusal
    );
  }

  private async promote(model: IModel, version: number, refusal: HTMLElement): Promise<void> {
    const suggested = model.aliases.production === undefined ? 'production' : 'production';
    const form = new AliasForm(
      suggested,
      true,
      `Promote ${model.name}/${version}: the alias moves only if this version's latest checks all passed.`
    );
    const result = await showDialog({
      title: `Promote ${model.name}/${version}`,
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Promote' })],
      focusNodeSelector: 'textarea'
    });
    if (!result.button.accept || !result.value) {
      return;
    }
    await this.moveAlias(model.name, result.value.alias, version, result.value.reason, refusal);
  }

  private async rollback(name: string, alias: string, refusal: HTMLElement): Promise<void> {
    let target: number | null = null;
    try {
      target = (await this.client.model(name)).rollback_to[alias] ?? null;
    } catch (error) {
      this.showRefusal(refusal, (error as Error).message, []);
      return;
    }
    if (target === null) {
      this.showRefusal(refusal, `${name}@${alias} has no earlier version to roll back to`, []);
      return;
    }
    const form = new AliasForm(alias, false, `Move ${name}@${alias} back to version ${target}.`);
    const result = await showDialog({
      title: `Roll back ${name}@${alias} to v${target}`,
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })],
      focusNodeSelector: 'textarea'
    });
    if (!result.button.accept || !result.value) {
      return;
    }
    await this.moveAlias(name, alias, target, result.value.reason, refusal);
  }

  private async moveAlias(
    name: string,
    alias: string,
    version: number,
    reason: string,
    refusal: HTMLElement
  ): Promise<void> {
    try {
      const done = await this.client.setAlias(name, alias, version, reason);
      refusal.hidden = true;
      Notification.success(`${done.name}@${done.alias} now points at version ${done.version}`, {
        autoClose: 4000
      });
      void this.poll.refresh();
    } catch (error) {
      if (error instanceof ApiError) {
        const failed = (error.detail.failed_checks as any[]) ?? [];
        this.showRefusal(refusal, error.message, failed);
        Notification.error(
          error.code === 'gate_refused' ? `Promotion refused: ${error.message}` : error.message,
          { autoClose: 6000 }
        );
        return;
      }
      Notification.error(`Could not move ${name}@${alias}: ${(error as Error).message}`);
    }
  }

  private showRefusal(refusal: HTMLElement, message: string, failed: any[]): void {
    refusal.hidden = false;
    setChildren(
      refusal,
      h('b', {}, 'Refused: '),
      message,
      failed.length
        ? h(
            'ul',
            {},
            failed.map(c =>
              h(
                'li',
                {},
                h('code', {}, String(c.check)),
                c.value !== null && c.value !== undefined ? ` = ${fmtNumber(c.value)}` : '',
                c.threshold !== null && c.threshold !== undefined
                  ? ` (needs ${fmtThreshold(c.threshold)})`
                  : '',
                c.detail ? ` — ${c.detail}` : ''
              )
            )
          )
        : null
    );
  }

  // deployments ----------------------------------------------------------------------
  private renderDeployments(deployments: IDeployment[]): void {
    if (deployments.length === 0) {
      setChildren(
        this.deploymentsBody,
        h('div', { class: 'nbmlops-muted' }, 'No deployment: %deploy NAME@ALIAS')
      );
      return;
    }
    setChildren(
      this.deploymentsBody,
      h(
        'ul',
        { class: 'nbmlops-deployments' },
        deployments.map(d => {
          const health = d.health
            ? d.health.ok
              ? h('span', { class: 'nbmlops-health-ok' }, `healthy · ${fmtNumber(d.health.latency_ms)} ms`)
              : h('span', { class: 'nbmlops-health-bad', title: d.health.error ?? '' }, 'unreachable')
            : null;
          return h(
            'li',
            { class: 'nbmlops-deployment', 'data-deployment': d.name },
            h('div', {}, statusBadge(d.status), h('b', {}, d.name), ` ${d.ref} (v${d.version})`),
            h(
              'div',
              { class: 'nbmlops-run-meta' },
              d.status === 'running'
                ? h('a', { href: d.url, target: '_blank', rel: 'noopener' }, d.url)
                : `stopped ${ago(d.stopped_at)}`,
              health ? ' · ' : '',
              health
            )
          );
        })
      )
    );
  }

  // pipelines --------------------------------------------------------------------------
  private renderPipelines(pipelines: IPipelineRun[]): void {
    if (pipelines.length === 0) {
      setChildren(
        this.pipelinesBody,
        h('div', { class: 'nbmlops-muted' }, 'No pipeline ran yet: nbmlops pipeline run pipeline.yaml')
      );
      return;
    }
    setChildren(
      this.pipelinesBody,
      h(
        'ul',
        { class: 'nbmlops-pipelines' },
        pipelines.map(p =>
          h(
            'li',
            { class: 'nbmlops-pipeline', 'data-run-id': p.run_id },
            h(
              'div',
              {
                class: 'nbmlops-pipeline-line',
                title: 'open the pipeline run',
                onclick: () => this.options.openRun(p.run_id)
              },
              statusBadge(p.status),
              h('b', {}, p.pipeline),
              ` · ${ago(p.start_time)}`
            ),
            h(
              'ul',
              { class: 'nbmlops-steps' },
              p.steps.map(s =>
                h(
                  'li',
                  { class: 'nbmlops-step', title: s.reason },
                  statusBadge(s.status),
                  s.executed_notebook
                    ? h(
                        'a',
                        {
                          href: '#',
                          title: `open the executed notebook ${s.executed_notebook}`,
                          onclick: (ev: Event) => {
                            ev.preventDefault();
                            this.options.openPath(s.executed_notebook as string);
                          }
                        },
                        s.step
                      )
                    : s.step,
                  s.duration !== null ? ` ${fmtDuration(s.duration)}` : ''
                )
              )
            )
          )
        )
      )
    );
  }
}
