import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { IRunDetail, NbmlopsClient } from './api';
import { RunDetailWidget } from './detail';
import { MlopsSidebar, SIDEBAR_ID } from './sidebar';

const PLUGIN_ID = 'nbmlops:plugin';
const CATEGORY = 'nbmlops';

export namespace CommandIDs {
  export const open = 'nbmlops:open-panel';
  export const openRun = 'nbmlops:open-run';
  export const trackCell = 'nbmlops:track-cell';
  export const runAsStep = 'nbmlops:run-notebook-as-step';
}

export const mlopsIcon = new LabIcon({
  name: 'nbmlops:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon3" fill="#616161">' +
    '<path d="M3 3h2v16h16v2H3z"/><path d="M7 15l4-5 3 3 5-7 1.6 1.2L14.3 16l-3-3-2.7 3.4z"/></g></svg>'
});

/** Open the notebook a run came from and put the cursor on the cell that produced it. */
async function openSource(docManager: IDocumentManager | null, app: JupyterFrontEnd, run: IRunDetail): Promise<void> {
  if (!run.notebook) {
    return;
  }
  const widget = docManager
    ? docManager.openOrReveal(run.notebook)
    : ((await app.commands.execute('docmanager:open', { path: run.notebook })) as any);
  if (!(widget instanceof NotebookPanel)) {
    return;
  }
  await widget.context.ready;
  await widget.revealed;
  const notebook = widget.content;
  const wanted = (run.source ?? '').trim();
  const cells = notebook.widgets;
  let index = -1;
  if (wanted) {
    index = cells.findIndex(c => c.model.sharedModel.getSource().includes(wanted));
    if (index < 0) {
      // the cell changed since: fall back to its first line (the %%track line, usually)
      const first = wanted.split('\n')[0];
      index = cells.findIndex(c => c.model.sharedModel.getSource().includes(first));
    }
  }
  if (index < 0 && run.execution_count !== null) {
    index = cells.findIndex(c => (c.model as any).executionCount === run.execution_count);
  }
  if (index < 0) {
    Notification.warning(`Opened ${run.notebook}; the cell of run ${run.name} is no longer in it`, {
      autoClose: 5000
    });
    return;
  }
  notebook.activeCellIndex = index;
  await notebook.scrollToCell(cells[index], 'center');
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The nbmlops MLOps sidebar: runs, models, deployments and pipelines.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, INotebookTracker, IDocumentManager, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    docManager: IDocumentManager | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const client = new NbmlopsClient();
    const runTracker = new WidgetTracker<MainAreaWidget<RunDetailWidget>>({ namespace: 'nbmlops-run' });
    const openPath = (path: string) => {
      if (docManager) {
        docManager.openOrReveal(path);
      } else {
        void app.commands.execute('docmanager:open', { path });
      }
    };
    const openRun = (runId: string) => void app.commands.execute(CommandIDs.openRun, { runId });

    const sidebar = new MlopsSidebar({ client, openRun, openPath, interval: 10 });
    sidebar.title.icon = mlopsIcon;
    app.shell.add(sidebar, 'left', { rank: 850 });
    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
      void restorer.restore(runTracker, {
        command: CommandIDs.openRun,
        args: w => ({ runId: w.content.runId }),
        name: w => w.content.runId
      });
    }
    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => sidebar.setInterval(Number(settings.get('refreshInterval').composite) || 10);
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('nbmlops: settings not loaded', reason));
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open MLOps panel',
      caption: 'Show runs, models, deployments and pipelines of the nbmlops store',
      icon: mlopsIcon,
      execute: () => app.shell.activateById(SIDEBAR_ID)
    });

    app.commands.addCommand(CommandIDs.openRun, {
      label: args => `Open run ${String(args.runId ?? '').slice(0, 8)}`,
      execute: args => {
        const runId = String(args.runId);
        const existing = runTracker.find(w => w.content.runId === runId);
        if (existing) {
          app.shell.activateById(existing.id);
          void existing.content.load();
          return existing;
        }
        const content = new RunDetailWidget({
          client,
          runId,
          openSource: run => openSource(docManager, app, run),
          openRun
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `nbmlops-run-panel-${runId}`;
        widget.title.icon = mlopsIcon;
        content.title.changed.connect(() => {
          widget.title.label = content.title.label;
          widget.title.caption = content.title.caption;
        });
        void runTracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    const activeNotebook = () =>
      notebooks && notebooks.currentWidget && notebooks.currentWidget === app.shell.currentWidget
        ? notebooks.currentWidget
        : null;

    app.commands.addCommand(CommandIDs.trackCell, {
      label: 'Track this cell',
      caption: 'Insert a %%track line at the top of the active cell: running it records a run',
      isEnabled: () => !!activeNotebook()?.content.activeCell,
      execute: () => {
        const cell = activeNotebook()?.content.activeCell;
        if (!cell) {
          return;
        }
        const source = cell.model.sharedModel.getSource();
        if (source.trimStart().startsWith('%%track')) {
          Notification.info('This cell is already tracked', { autoClose: 3000 });
          return;
        }
        if (cell.model.type !== 'code') {
          Notification.warning('Only code cells can be tracked', { autoClose: 3000 });
          return;
        }
        cell.model.sharedModel.setSource(`%%track\n${source}`);
      }
    });

    app.commands.addCommand(CommandIDs.runAsStep, {
      label: 'Run this notebook as a pipeline step',
      caption: 'Save the notebook, execute it with papermill through nbmlops and record the run',
      isEnabled: () => !!activeNotebook(),
      execute: async () => {
        const panel = activeNotebook();
        if (!panel) {
          return;
        }
        const path = panel.context.path;
        try {
          await panel.context.save();
          let job = await client.runNotebookStep(path);
          const id = Notification.emit(`Running ${path} as a pipeline step…`, 'in-progress', {
            autoClose: false
          });
          void sidebar.poll.refresh();
          while (job.status === 'running') {
            await new Promise(resolve => setTimeout(resolve, 1000));
            job = await client.stepJob(job.job_id);
            const step = job.steps[0];
            if (step) {
              Notification.update({ id, message: `Running ${path}: step ${step.status}…` });
            }
          }
          const runId = job.run_id ?? job.pipeline_run_id;
          Notification.update({
            id,
            type: job.status === 'finished' ? 'success' : 'error',
            message:
              job.status === 'finished'
                ? `${path} ran as a pipeline step`
                : `${path} failed: ${job.error ?? 'see the run'}`,
            autoClose: job.status === 'finished' ? 8000 : false,
            actions: runId ? [{ label: 'Open run', callback: () => openRun(runId) }] : []
          });
          void sidebar.poll.refresh();
        } catch (error) {
          Notification.error(`Could not run ${path}: ${(error as Error).message}`);
        }
      }
    });

    if (palette) {
      for (const command of [CommandIDs.trackCell, CommandIDs.runAsStep, CommandIDs.open]) {
        palette.addItem({ command, category: CATEGORY });
      }
    }
    console.log('nbmlops: MLOps sidebar activated');
  }
};

export default plugin;
