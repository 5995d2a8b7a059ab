// The filters of every layout; they live in the URL, so switching layouts keeps them.
import { useEffect, useRef, useState } from 'preact/hooks';
import { DEFAULT_SORT, type Filters } from '../filters';
import { t } from '../i18n';
import { useShortcuts } from '../keyboard';
import { hasSeat, useMe, usePipelines, useUsers } from '../store';
import { PRIORITIES, SLA_STATES, SORTABLE, VIEWS, type Priority, type SlaState, type ViewName } from '../types';

interface Props {
  filters: Filters;
  onChange: (filters: Filters) => void;
  showSort?: boolean;
  requirePipeline?: boolean;
}

export function FilterBar({ filters, onChange, showSort = false, requirePipeline = false }: Props) {
  const pipelines = usePipelines();
  const users = useUsers();
  const seat = hasSeat(useMe());
  const [q, setQ] = useState(filters.q ?? '');
  const searchRef = useRef<HTMLInputElement>(null);
  useEffect(() => setQ(filters.q ?? ''), [filters.q]);
  useShortcuts([{ key: '/', run: () => searchRef.current?.focus() }]);

  const set = (patch: Partial<Filters>) => onChange({ ...filters, ...patch });
  const pipelineId = filters.pipeline_id ?? (requirePipeline ? pipelines?.[0]?.id : undefined);
  const stages = pipelines?.filter((p) => pipelineId === undefined || p.id === pipelineId).flatMap((p) => p.stages) ?? [];
  const num = (value: string) => (value === '' ? undefined : Number(value));

  return (
    <form
      class="filters"
      role="search"
      aria-label={t('filters.label')}
      onSubmit={(e) => {
        e.preventDefault();
        set({ q: q.trim() || undefined });
      }}
    >
      <label>
        {t('filters.view')}
        <select
          value={filters.view ?? ''}
          onChange={(e) => set({ view: ((e.target as HTMLSelectElement).value || undefined) as ViewName | undefined })}
        >
          <option value="">{t('filters.allTickets')}</option>
          {VIEWS.map((v) => (
            <option value={v}>{t(`view.${v}`)}</option>
          ))}
        </select>
      </label>
      <label class="grow">
        <span>
          {t('filters.search')} <kbd aria-hidden="true">/</kbd>
        </span>
        <input
          ref={searchRef}
          type="search"
          name="q"
          value={q}
          placeholder={t('filters.searchPlaceholder')}
          aria-keyshortcuts="/"
          onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          onBlur={() => (q.trim() || undefined) !== filters.q && set({ q: q.trim() || undefined })}
        />
      </label>
      <label>
        {t('filters.pipeline')}
        <select
          value={pipelineId ?? ''}
          onChange={(e) => set({ pipeline_id: num((e.target as HTMLSelectElement).value), status: undefined })}
        >
          {!requirePipeline && <option value="">{t('filters.any')}</option>}
          {pipelines?.map((p) => (
            <option value={p.id}>{p.label}</option>
          ))}
        </select>
      </label>
      <label>
        {t('filters.status')}
        <select value={filters.status ?? ''} onChange={(e) => set({ status: num((e.target as HTMLSelectElement).value) })}>
          <option value="">{t('filters.any')}</option>
          {stages.map((s) => (
            <option value={s.id}>{s.label}</option>
          ))}
        </select>
      </label>
      <label>
        {t('filters.priority')}
        <select
          value={filters.priority ?? ''}
          onChange={(e) => set({ priority: ((e.target as HTMLSelectElement).value || undefined) as Priority | undefined })}
        >
          <option value="">{t('filters.any')}</option>
          {PRIORITIES.map((p) => (
            <option value={p}>{t(`priority.${p}`)}</option>
          ))}
        </select>
      </label>
      <label>
        {t('filters.owner')}
        <select
          value={filters.owner_id ?? ''}
          onChange={(e) => {
            const value = (e.target as HTMLSelectElement).value;
            set({ owner_id: value === '' ? undefined : value === 'none' ? 'none' : Number(value) });
          }}
        >
          <option value="">{t('filters.any')}</option>
          <option value="none">{t('filters.unassigned')}</option>
          {users?.map((u) => (
            <option value={u.id}>{u.name}</option>
          ))}
        </select>
      </label>
      {(seat || filters.sla_state) && (
        <label>
          {t('sla.label')}
          <select
            value={filters.sla_state ?? ''}
            onChange={(e) => set({ sla_state: ((e.target as HTMLSelectElement).value || undefined) as SlaState | undefined })}
          >
            <option value="">{t('filters.any')}</option>
            {SLA_STATES.map((s) => (
              <option value={s}>{t(`sla.state.${s}`)}</option>
            ))}
          </select>
        </label>
      )}
      {showSort && (
        <label>
          {t('filters.sort')}
          <select
            value={filters.sort ?? DEFAULT_SORT}
            onChange={(e) => set({ sort: (e.target as HTMLSelectElement).value })}
          >
            {[...SORTABLE, ...(seat ? (['sla_due_at'] as const) : [])].flatMap((key) => [`-${key}`, key]).map((s) => (
              <option value={s}>{t(`sort.${s}` as 'sort.id')}</option>
            ))}
          </select>
        </label>
      )}
      <button type="submit" class="sr-only-focusable">
        {t('filters.search')}
      </button>
      <button type="button" class="ghost" onClick={() => onChange({})}>
        {t('filters.clear')}
      </button>
    </form>
  );
}
