// SLA policies: seat holders see them, people with account access create, change and delete them
// (the tickets service decides; a refusal shows as an error). Open tickets' clocks follow a change.
import { useState } from 'preact/hooks';
import { Dialog } from '../components/Dialog';
import { FormActions } from '../components/FormActions';
import { allPages, slaPolicies } from '../endpoints';
import { t } from '../i18n';
import { can, hasSeat, meData, useAsync, useMe, usePipelines } from '../store';
import { announce } from '../toast';
import { PRIORITIES, SLA_GOALS, type Pipeline, type SlaPolicy } from '../types';
import { bodyFrom, draftFrom, formatMinutes, formatOpenings, type DraftErrors, type SlaDraft } from '../sla';
import { AdminError } from './AdminPage';

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const GOAL_FIELD = { first_reply: 'first_reply_minutes', next_reply: 'next_reply_minutes', close: 'close_minutes' } as const;

export function SlaAdmin() {
  const me = useMe();
  if (!me) return meData.error ? <AdminError error={meData.error} /> : <p class="muted">{t('app.loading')}</p>;
  if (!hasSeat(me)) return <p>{t('sla.needSeat')}</p>;
  return <SlaPolicies mayChange={can(me, 'account_access')} />;
}

function SlaPolicies({ mayChange }: { mayChange: boolean }) {
  const policies = useAsync(() => allPages((cursor) => slaPolicies.list(cursor)), []);
  const pipelines = usePipelines();
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<SlaPolicy | null>(null);
  const [deleting, setDeleting] = useState<SlaPolicy | null>(null);
  const [formKey, setFormKey] = useState(0);

  async function run(action: () => Promise<unknown>, message: string) {
    setError(null);
    try {
      await action();
      announce(message);
      policies.reload();
      return true;
    } catch (e) {
      setError(e);
      return false;
    }
  }

  return (
    <>
      <p>{t('sla.note')}</p>
      {!mayChange && <p class="muted">{t('sla.readOnly')}</p>}
      <AdminError error={policies.error ?? error} />
      {policies.data?.length === 0 && <p class="muted">{t('sla.none')}</p>}
      {policies.data && policies.data.length > 0 && (
        <table class="data sla-table" aria-label={t('admin.sla')}>
          <thead>
            <tr>
              <th scope="col">{t('sla.name')}</th>
              <th scope="col">{t('sla.appliesTo')}</th>
              <th scope="col">{t('sla.goals')}</th>
              <th scope="col">{t('sla.hours')}</th>
              <th scope="col">{t('sla.pausedIn')}</th>
              {mayChange && (
                <th scope="col">
                  <span class="sr-only">{t('app.edit')}</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {policies.data.map((policy) => (
              <tr key={policy.id} data-policy-id={policy.id}>
                <td>{policy.name}</td>
                <td>{appliesTo(policy, pipelines)}</td>
                <td>
                  <ul class="plain">
                    {SLA_GOALS.filter((goal) => policy[GOAL_FIELD[goal]] !== null).map((goal) => (
                      <li>
                        {t(`sla.goal.${goal}`)}: {formatMinutes(policy[GOAL_FIELD[goal]])}
                      </li>
                    ))}
                    <li class="muted small">{t('sla.dueSoonShort', { time: formatMinutes(policy.due_soon_minutes) })}</li>
                  </ul>
                </td>
                <td>
                  {policy.business_hours ? (
                    <>
                      {policy.business_hours.timezone}: {formatOpenings(policy.business_hours.weekly).join(', ')}
                      {policy.business_hours.holidays.length > 0 && (
                        <span class="muted small"> ({t('sla.holidayCount', { count: policy.business_hours.holidays.length })})</span>
                      )}
                    </>
                  ) : (
                    t('sla.allHours')
                  )}
                </td>
                <td>{stageNames(policy.pause_stage_ids, pipelines) || t('app.none')}</td>
                {mayChange && (
                  <td class="row-buttons">
                    <button type="button" class="small" onClick={() => setEditing(policy)} aria-label={t('sla.editNamed', { name: policy.name })}>
                      {t('app.edit')}
                    </button>{' '}
                    <button type="button" class="small danger" onClick={() => setDeleting(policy)} aria-label={t('sla.deleteNamed', { name: policy.name })}>
                      {t('sla.delete')}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {mayChange &&
        (editing ? (
          <SlaForm
            key={`edit-${editing.id}`}
            policy={editing}
            onCancel={() => setEditing(null)}
            onSubmit={async (body) => {
              if (await run(() => slaPolicies.update(editing.id, body), t('admin.saved'))) setEditing(null);
            }}
          />
        ) : (
          <SlaForm
            key={`new-${formKey}`}
            onSubmit={async (body) => {
              if (await run(() => slaPolicies.create(body), t('admin.created', { name: body.name }))) setFormKey((n) => n + 1);
            }}
          />
        ))}
      {deleting && (
        <Dialog title={t('sla.deleteNamed', { name: deleting.name })} onClose={() => setDeleting(null)} id="sla-delete">
          <p>{t('sla.deleteNote')}</p>
          <div class="dialog-actions">
            <button type="button" class="ghost" onClick={() => setDeleting(null)}>
              {t('app.cancel')}
            </button>
            <button
              type="button"
              class="danger"
              onClick={async () => {
                const gone = deleting;
                setDeleting(null);
                if (await run(() => slaPolicies.remove(gone.id), t('sla.deleted', { name: gone.name })) && editing?.id === gone.id) setEditing(null);
              }}
            >
              {t('sla.delete')}
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}

function appliesTo(policy: SlaPolicy, pipelines: Pipeline[] | undefined): string {
  const parts: string[] = [];
  if (policy.priority) parts.push(t(`priority.${policy.priority}`));
  if (policy.pipeline_id !== null) parts.push(pipelines?.find((p) => p.id === policy.pipeline_id)?.label ?? `#${policy.pipeline_id}`);
  return parts.length ? parts.join(', ') : t('sla.everyTicket');
}

function stageNames(ids: number[], pipelines: Pipeline[] | undefined): string {
  const stages = new Map((pipelines ?? []).flatMap((p) => p.stages.map((s) => [s.id, pipelines!.length > 1 ? `${p.label}: ${s.label}` : s.label] as const)));
  return ids.map((id) => stages.get(id) ?? `#${id}`).join(', ');
}

function SlaForm({ policy, onSubmit, onCancel }: { policy?: SlaPolicy; onSubmit: (body: NonNullable<ReturnType<typeof bodyFrom>['body']>) => Promise<void>; onCancel?: () => void }) {
  const pipelines = usePipelines();
  const [draft, setDraft] = useState<SlaDraft>(() => draftFrom(policy, browserZone()));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<SlaDraft>) => setDraft((d) => ({ ...d, ...patch }));
  const id = policy ? `sla-${policy.id}` : 'sla-new';
  const title = policy ? t('sla.editNamed', { name: policy.name }) : t('sla.new');

  const problem = (field: keyof DraftErrors) => {
    const e = errors[field];
    return e ? (
      <span class="field-error" id={`${id}-${field}-error`} role="alert">
        {t(e.key, e.params)}
      </span>
    ) : null;
  };
  const described = (field: keyof DraftErrors, hint?: string) => {
    const ids = [hint, errors[field] ? `${id}-${field}-error` : undefined].filter(Boolean).join(' ');
    return ids || undefined;
  };
  const text = (field: keyof SlaDraft, label: string, extra: Record<string, unknown> = {}) => (
    <div class="field">
      <label for={`${id}-${field}`}>{label}</label>
      <input
        id={`${id}-${field}`}
        value={draft[field] as string}
        aria-invalid={errors[field] ? 'true' : undefined}
        aria-describedby={described(field)}
        onInput={(e) => set({ [field]: (e.target as HTMLInputElement).value } as Partial<SlaDraft>)}
        {...extra}
      />
      {problem(field)}
    </div>
  );
  const area = (field: 'openings' | 'holidays', label: string, hint: string, rows: number) => (
    <div class="field">
      <label for={`${id}-${field}`}>{label}</label>
      <textarea
        id={`${id}-${field}`}
        rows={rows}
        value={draft[field]}
        aria-invalid={errors[field] ? 'true' : undefined}
        aria-describedby={described(field, `${id}-${field}-hint`)}
        onInput={(e) => set({ [field]: (e.target as HTMLTextAreaElement).value })}
      />
      <span class="muted small" id={`${id}-${field}-hint`}>
        {hint}
      </span>
      {problem(field)}
    </div>
  );

  return (
    <form
      class="card-form sla-form"
      aria-labelledby={`${id}-title`}
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        const { body, errors: found } = bodyFrom(draft);
        setErrors(found);
        if (!body) return;
        setBusy(true);
        try {
          await onSubmit(body);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      {text('name', t('sla.name'), { required: true, maxLength: 200 })}
      <div class="row-form">
        <label>
          {t('filters.priority')}
          <select value={draft.priority} onChange={(e) => set({ priority: (e.target as HTMLSelectElement).value as SlaDraft['priority'] })}>
            <option value="">{t('filters.any')}</option>
            {PRIORITIES.map((p) => (
              <option value={p}>{t(`priority.${p}`)}</option>
            ))}
          </select>
        </label>
        <label>
          {t('filters.pipeline')}
          <select value={draft.pipeline_id} onChange={(e) => set({ pipeline_id: (e.target as HTMLSelectElement).value })}>
            <option value="">{t('filters.any')}</option>
            {pipelines?.map((p) => (
              <option value={p.id}>{p.label}</option>
            ))}
          </select>
        </label>
      </div>
      <fieldset aria-describedby={described('goals', `${id}-goals-hint`)}>
        <legend>{t('sla.goalsLegend')}</legend>
        <p class="muted small" id={`${id}-goals-hint`}>
          {t('sla.goalsHint')}
        </p>
        <div class="row-form">
          {text('first_reply', t('sla.goal.first_reply'), { inputMode: 'numeric', size: 8 })}
          {text('next_reply', t('sla.goal.next_reply'), { inputMode: 'numeric', size: 8 })}
          {text('close', t('sla.goal.close'), { inputMode: 'numeric', size: 8 })}
          {text('due_soon', t('sla.dueSoon'), { inputMode: 'numeric', size: 8 })}
        </div>
        {problem('goals')}
      </fieldset>
      <fieldset>
        <legend>{t('sla.hours')}</legend>
        <label class="check">
          <input type="radio" name={`${id}-hours`} checked={!draft.business_hours} onChange={() => set({ business_hours: false })} /> {t('sla.allHours')}
        </label>
        <label class="check">
          <input type="radio" name={`${id}-hours`} checked={draft.business_hours} onChange={() => set({ business_hours: true })} /> {t('sla.businessHours')}
        </label>
        {draft.business_hours && (
          <>
            {text('timezone', t('sla.timezone'), { maxLength: 64 })}
            {area('openings', t('sla.openings'), t('sla.openingsHint'), 3)}
            {area('holidays', t('sla.holidays'), t('sla.holidaysHint'), 2)}
          </>
        )}
      </fieldset>
      <fieldset>
        <legend>{t('sla.pauseLegend')}</legend>
        {pipelines?.map((p) => (
          <div class="pause-stages" role="group" aria-label={p.label}>
            <span class="muted small">{p.label}:</span>{' '}
            {p.stages.map((s) => (
              <label class="check inline">
                <input
                  type="checkbox"
                  checked={draft.pause_stage_ids.includes(s.id)}
                  onChange={() =>
                    set({
                      pause_stage_ids: draft.pause_stage_ids.includes(s.id) ? draft.pause_stage_ids.filter((x) => x !== s.id) : [...draft.pause_stage_ids, s.id],
                    })
                  }
                />{' '}
                {s.label}
              </label>
            ))}
          </div>
        ))}
      </fieldset>
      <FormActions label={policy ? t('app.save') : t('admin.create')} onCancel={onCancel} busy={busy} />
    </form>
  );
}
