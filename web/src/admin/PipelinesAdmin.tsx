import { useState } from 'preact/hooks';
import { pipelines as pipelineApi } from '../endpoints';
import { t } from '../i18n';
import { pipelinesData, usePipelines } from '../store';
import { announce } from '../toast';
import type { Pipeline, Stage } from '../types';
import { AdminError } from './AdminPage';

/** "Label" or "Label closed" per line -> stages. */
export function parseStages(text: string): { label: string; state: 'OPEN' | 'CLOSED' }[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const closed = /\s+closed$/i.test(line);
      return { label: closed ? line.replace(/\s+closed$/i, '') : line, state: closed ? 'CLOSED' : 'OPEN' };
    });
}

export function PipelinesAdmin() {
  const pipelines = usePipelines();
  const [error, setError] = useState<unknown>(null);
  const [label, setLabel] = useState('');
  const [stages, setStages] = useState('New\nIn progress\nDone closed');

  async function run(action: () => Promise<unknown>, message: string) {
    setError(null);
    try {
      await action();
      announce(message);
      await pipelinesData.load(true);
      return true;
    } catch (e) {
      setError(e);
      return false;
    }
  }

  return (
    <>
      <AdminError error={error ?? pipelinesData.error} />
      {pipelines?.map((p) => (
        <PipelineCard key={p.id} pipeline={p} run={run} />
      ))}
      <form
        class="card-form"
        aria-label={t('pipelines.new')}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await run(() => pipelineApi.create(label.trim(), parseStages(stages)), t('admin.created', { name: label.trim() }))) setLabel('');
        }}
      >
        <h2>{t('pipelines.new')}</h2>
        <label>
          {t('pipelines.label')}
          <input value={label} required onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('pipelines.stages')}
          <textarea rows={4} value={stages} onInput={(e) => setStages((e.target as HTMLTextAreaElement).value)} />
        </label>
        <button type="submit" class="primary">
          {t('admin.create')}
        </button>
      </form>
    </>
  );
}

function PipelineCard({ pipeline, run }: { pipeline: Pipeline; run: (a: () => Promise<unknown>, m: string) => Promise<boolean> }) {
  const [name, setName] = useState(pipeline.label);
  const [stageLabel, setStageLabel] = useState('');
  const [stageState, setStageState] = useState<'OPEN' | 'CLOSED'>('OPEN');
  const ids = pipeline.stages.map((s) => s.id);
  const swap = (index: number, delta: number) => {
    const next = ids.slice();
    [next[index], next[index + delta]] = [next[index + delta], next[index]];
    return run(() => pipelineApi.reorder(pipeline.id, next), t('admin.saved'));
  };
  return (
    <section class="card-form pipeline" aria-labelledby={`pipeline-${pipeline.id}`}>
      <h2 id={`pipeline-${pipeline.id}`}>{pipeline.label}</h2>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim() && name.trim() !== pipeline.label) void run(() => pipelineApi.rename(pipeline.id, name.trim()), t('admin.saved'));
        }}
      >
        <label>
          {t('pipelines.rename', { name: pipeline.label })}
          <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">{t('app.save')}</button>
      </form>
      <ol class="stages">
        {pipeline.stages.map((stage, index) => (
          <StageRow key={stage.id} stage={stage} first={index === 0} last={index === ids.length - 1} onUp={() => swap(index, -1)} onDown={() => swap(index, 1)} onRename={(label) => run(() => pipelineApi.renameStage(pipeline.id, stage.id, label), t('admin.saved'))} />
        ))}
      </ol>
      <form
        class="inline-form"
        aria-label={`${t('pipelines.addStage')}: ${pipeline.label}`}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await run(() => pipelineApi.addStage(pipeline.id, stageLabel.trim(), stageState), t('admin.saved'))) setStageLabel('');
        }}
      >
        <label>
          {t('pipelines.stageLabel')}
          <input value={stageLabel} required onInput={(e) => setStageLabel((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('pipelines.stageState')}
          <select value={stageState} onChange={(e) => setStageState((e.target as HTMLSelectElement).value as 'OPEN' | 'CLOSED')}>
            <option value="OPEN">{t('pipelines.open')}</option>
            <option value="CLOSED">{t('pipelines.closed')}</option>
          </select>
        </label>
        <button type="submit">{t('pipelines.addStage')}</button>
      </form>
    </section>
  );
}

function StageRow({ stage, first, last, onUp, onDown, onRename }: { stage: Stage; first: boolean; last: boolean; onUp: () => void; onDown: () => void; onRename: (label: string) => void }) {
  const [label, setLabel] = useState(stage.label);
  return (
    <li>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (label.trim() && label.trim() !== stage.label) onRename(label.trim());
        }}
      >
        <input aria-label={t('pipelines.renameStage', { name: stage.label })} value={label} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        <span class={`badge ${stage.state === 'CLOSED' ? 'closed' : 'open'}`}>{stage.state === 'CLOSED' ? t('pipelines.closed') : t('pipelines.open')}</span>
        <button type="submit" class="small">
          {t('app.save')}
        </button>
        <button type="button" class="small" disabled={first} onClick={onUp} aria-label={t('pipelines.up', { name: stage.label })}>
          ↑
        </button>
        <button type="button" class="small" disabled={last} onClick={onDown} aria-label={t('pipelines.down', { name: stage.label })}>
          ↓
        </button>
      </form>
    </li>
  );
}
