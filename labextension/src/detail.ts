import { Widget } from '@lumino/widgets';

import { IMetricPoint, IRunDetail, NbmlopsClient } from './api';
import { ago, fmtDuration, fmtNumber, h, setChildren, statusBadge, table } from './dom';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, String(v));
  }
  return el;
}

/** A line chart of one metric's history (drawn as SVG in the DOM, no library). */
export function curve(key: string, points: IMetricPoint[]): HTMLElement {
  const W = 320;
  const H = 150;
  const pad = { l: 48, r: 10, t: 10, b: 24 };
  const xs = points.map(p => p.step);
  const ys = points.map(p => p.value);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const sy = (y: number) => H - pad.b - ((y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img' });
  root.setAttribute('aria-label', `${key} by step`);
  root.appendChild(
    svg('rect', {
      x: pad.l,
      y: pad.t,
      width: W - pad.l - pad.r,
      height: H - pad.t - pad.b,
      class: 'nbmlops-plot-area'
    })
  );
  const label = (x: number, y: number, text: string, anchor: string) => {
    const t = svg('text', { x, y, 'text-anchor': anchor, class: 'nbmlops-axis' });
    t.textContent = text;
    root.appendChild(t);
  };
  label(pad.l - 4, pad.t + 8, fmtNumber(y1), 'end');
  label(pad.l - 4, H - pad.b, fmtNumber(y0), 'end');
  label(pad.l, H - 8, `step ${x0}`, 'start');
  label(W - pad.r, H - 8, `${x1}`, 'end');
  root.appendChild(
    svg('polyline', {
      points: points.map(p => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(' '),
      class: 'nbmlops-line'
    })
  );
  const last = points[points.length - 1];
  return h(
    'figure',
    { class: 'nbmlops-curve', 'data-metric': key },
    root as unknown as HTMLElement,
    h('figcaption', {}, h('b', {}, key), ` · ${points.length} points · last ${fmtNumber(last.value)}`)
  );
}

export interface IRunDetailOptions {
  client: NbmlopsClient;
  runId: string;
  /** open the notebook a run came from, at the cell that produced it */
  openSource: (run: IRunDetail) => Promise<void>;
  openRun: (runId: string) => void;
}

/** The main-area view of one run: params, metrics, curves, provenance, source notebook. */
export class RunDetailWidget extends Widget {
  readonly runId: string;
  private options: IRunDetailOptions;
  private timer: number | undefined;

  constructor(options: IRunDetailOptions) {
    super();
    this.options = options;
    this.runId = options.runId;
    this.id = `nbmlops-run-${options.runId}`;
    this.addClass('nbmlops-run-detail');
    this.node.tabIndex = 0;
    this.title.label = `Run ${options.runId.slice(0, 8)}`;
    this.title.closable = true;
    void this.load();
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
  }

  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const run = await this.options.client.run(this.runId);
      this.render(run);
      if (run.status === 'RUNNING' && !this.isDisposed) {
        this.timer = window.setTimeout(() => void this.load(), 5000);
      }
    } catch (error) {
      setChildren(
        this.node,
        h('div', { class: 'nbmlops-error' }, `Cannot show run ${this.runId}: ${(error as Error).message}`)
      );
    }
  }

  private render(run: IRunDetail): void {
    this.title.label = `Run ${run.name}`;
    this.title.caption = `${run.experiment} / ${run.name} (${run.run_id})`;
    const open = h(
      'button',
      {
        class: 'jp-Button jp-mod-styled jp-mod-accept nbmlops-open-source',
        title: run.notebook
          ? `Open ${run.notebook} at the cell that produced this run`
          : run.notebook_path
            ? `The notebook ${run.notebook_path} is outside this server's root folder`
            : 'No notebook was recorded for this run',
        onclick: () => void this.options.openSource(run)
      },
      'Open source notebook'
    );
    (open as HTMLButtonElement).disabled = !run.notebook;
    const prov = run.provenance ?? {};
    const curves = Object.entries(run.metric_history)
      .filter(([, pts]) => pts.length > 1)
      .map(([k, pts]) => curve(k, pts));
    setChildren(
      this.node,
      h(
        'header',
        { class: 'nbmlops-detail-header' },
        h('h1', {}, statusBadge(run.status), ` ${run.name}`),
        h(
          'div',
          { class: 'nbmlops-run-meta' },
          `${run.experiment} · started ${ago(run.start_time)}`,
          run.duration !== null ? ` · took ${fmtDuration(run.duration)}` : '',
          ` · ${run.run_id}`
        ),
        h(
          'div',
          { class: 'nbmlops-actions' },
          open,
          run.notebook_path ? h('code', { class: 'nbmlops-path' }, run.notebook ?? run.notebook_path) : null,
          run.parent_run_id
            ? h(
                'button',
                {
                  class: 'jp-Button jp-mod-styled',
                  onclick: () => this.options.openRun(run.parent_run_id as string)
                },
                'Parent run'
              )
            : null
        )
      ),
      run.error ? h('pre', { class: 'nbmlops-error' }, run.error) : null,
      h(
        'div',
        { class: 'nbmlops-columns' },
        h(
          'section',
          { class: 'nbmlops-params' },
          h('h2', {}, 'Params'),
          Object.keys(run.params).length
            ? table(Object.entries(run.params).map(([k, v]) => [k, fmtNumber(v)]))
            : h('div', { class: 'nbmlops-muted' }, 'none')
        ),
        h(
          'section',
          { class: 'nbmlops-metrics' },
          h('h2', {}, 'Metrics'),
          Object.keys(run.metrics).length
            ? table(Object.entries(run.metrics).map(([k, v]) => [k, fmtNumber(v)]))
            : h('div', { class: 'nbmlops-muted' }, 'none')
        ),
        h(
          'section',
          { class: 'nbmlops-provenance' },
          h('h2', {}, 'Provenance'),
          table(
            (
              [
                ['state', statusBadge(String(prov.status ?? 'unknown'))],
                ['notebook', run.notebook ?? run.notebook_path ?? ''],
                ['cell', run.execution_count !== null ? `[${run.execution_count}]` : ''],
                ['git', run.git_commit ? `${run.git_commit.slice(0, 10)}${run.git_dirty ? ' (dirty)' : ''}` : '']
              ] as [string, HTMLElement | string][]
            ).filter(([, v]) => v !== '')
          ),
          Array.isArray(prov.reasons) && prov.reasons.length
            ? h('ul', { class: 'nbmlops-reasons' }, prov.reasons.map((r: string) => h('li', {}, r)))
            : null
        )
      ),
      curves.length
        ? h('section', { class: 'nbmlops-curves' }, h('h2', {}, 'Metric curves'), h('div', { class: 'nbmlops-curve-grid' }, curves))
        : null,
      run.source
        ? h('section', {}, h('h2', {}, 'Cell source'), h('pre', { class: 'nbmlops-source' }, run.source))
        : null,
      run.datasets.length
        ? h(
            'section',
            {},
            h('h2', {}, 'Data'),
            table(run.datasets.map(d => [d.name, `${d.role} · ${d.shape.join('×')} · ${d.fingerprint.slice(0, 12)}`]))
          )
        : null,
      run.artifacts.length
        ? h(
            'section',
            {},
            h('h2', {}, 'Artifacts'),
            table(run.artifacts.map(a => [a.name, `${a.media_type} · ${fmtNumber(a.size)} bytes`]))
          )
        : null
    );
  }
}
