/**
 * "Recommended replies" in the reply composer (seat holders): asked for only when the agent opens
 * it, up to three replies from similar closed tickets, best first, each put into the composer by
 * one button. Nothing is sent until the agent sends the reply.
 */
import { useState } from 'preact/hooks';
import { relativeScore } from '../assist';
import { assist } from '../endpoints';
import { t } from '../i18n';
import { errorText } from '../store';
import type { Recommendation } from '../types';

export function ReplyRecommendations({ ticketId, onInsert }: { ticketId: number; onInsert: (body: string) => void }) {
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<Recommendation[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  async function toggle() {
    if (open) return setOpen(false);
    setOpen(true);
    setItems(null);
    setProblem(null);
    try {
      setItems((await assist.replyRecommendations(ticketId)).items);
    } catch (e) {
      setProblem(t('app.error', { detail: errorText(e) }));
    }
  }

  const best = items?.[0]?.score ?? 0;
  return (
    <div class="recommendations">
      <button type="button" class="small" aria-expanded={open} aria-controls="recommended-replies" onClick={() => void toggle()}>
        {t('assist.recommended')}
      </button>
      {open && (
        <section id="recommended-replies" aria-label={t('assist.recommended')} class="recommendation-list" data-testid="recommended-replies">
          {items === null && !problem && <p class="muted small">{t('app.loading')}</p>}
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
          {items?.length === 0 && <p class="muted small">{t('assist.noRecommendations')}</p>}
          {items && items.length > 0 && (
            <ol>
              {items.map((item, index) => (
                <li data-source-ticket={item.source_ticket_id}>
                  <p class="recommendation-body">{item.body}</p>
                  <p class="muted small">
                    {t('assist.recommendedFrom', { id: item.source_ticket_id, score: relativeScore(item.score, best) })}{' '}
                    <button
                      type="button"
                      class="small"
                      aria-label={t('assist.insertNth', { n: index + 1 })}
                      onClick={() => {
                        onInsert(item.body);
                        setOpen(false);
                      }}
                    >
                      {t('assist.insert')}
                    </button>
                  </p>
                </li>
              ))}
            </ol>
          )}
        </section>
      )}
    </div>
  );
}
