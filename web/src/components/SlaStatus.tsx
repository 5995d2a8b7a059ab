// A ticket's SLA in the properties sidebar: its state, the next due moment, and each goal.
import { formatDateTime, t } from '../i18n';
import type { SlaGoal, TicketSla } from '../types';

function goalWhen(goal: SlaGoal): { key: 'sla.metAt' | 'sla.breachedAt' | 'sla.dueAt' | 'sla.pausedLeft'; at: string | null } | null {
  if (goal.met_at) return { key: 'sla.metAt', at: goal.met_at };
  if (goal.breached_at) return { key: 'sla.breachedAt', at: goal.breached_at };
  if (goal.due_at) return { key: 'sla.dueAt', at: goal.due_at };
  if (goal.remaining_seconds !== null) return { key: 'sla.pausedLeft', at: null };
  return null;
}

export function SlaStatus({ sla }: { sla: TicketSla }) {
  return (
    <div class="sla-status" data-testid="ticket-sla">
      <span class={`badge sla-${sla.state}`}>{t(`sla.state.${sla.state}`)}</span>
      {sla.next_due_at && (
        <>
          <br />
          <span class="small">
            {t('sla.nextDue')} <time dateTime={sla.next_due_at}>{formatDateTime(sla.next_due_at)}</time>
          </span>
        </>
      )}
      {sla.goals.length > 0 && (
        <ul class="plain sla-goals">
          {sla.goals.map((goal) => {
            const when = goalWhen(goal);
            return (
              <li>
                {t(`sla.goal.${goal.goal}`)}: {t(`sla.state.${goal.state}`)}
                {when && (
                  <span class="muted small">
                    {' '}
                    {when.at ? (
                      <>
                        {t(when.key)} <time dateTime={when.at}>{formatDateTime(when.at)}</time>
                      </>
                    ) : (
                      t('sla.pausedLeft', { minutes: Math.ceil((goal.remaining_seconds ?? 0) / 60) })
                    )}
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
