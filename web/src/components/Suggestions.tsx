/**
 * Name and summary suggestions for the open ticket (seat holders). Asking changes nothing: the
 * suggestion is shown with "Use it" (the name becomes the ticket's name, the summary its
 * description, saved by the caller with If-Match like an inline edit), "Another" (asks again,
 * leaving out what was shown) and "Dismiss".
 */
import { useEffect, useState } from 'preact/hooks';
import { assist } from '../endpoints';
import { t } from '../i18n';
import { errorText } from '../store';
import type { TicketPatch } from '../types';

type Kind = 'name' | 'summary';

/** The ticket change that uses a suggestion: a name is the name, a summary the description. */
export function suggestionPatch(kind: Kind, suggestion: string): TicketPatch {
  return kind === 'name' ? { name: suggestion } : { description: suggestion };
}

export function Suggestions({ ticketId, onUse }: { ticketId: number; onUse: (patch: TicketPatch, kind: Kind) => Promise<void> }) {
  const [kind, setKind] = useState<Kind | null>(null);
  const [shown, setShown] = useState<string[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const current = shown[shown.length - 1];

  useEffect(() => {
    setKind(null);
    setShown([]);
    setProblem(null);
  }, [ticketId]);

  async function ask(which: Kind, exclude: string[]) {
    setKind(which);
    setBusy(true);
    setProblem(null);
    if (exclude.length === 0) setShown([]);
    try {
      const answer = await assist.suggest(ticketId, which, exclude);
      setShown([...exclude, answer.suggestion]);
    } catch (e) {
      setProblem(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  const dismiss = () => {
    setKind(null);
    setShown([]);
    setProblem(null);
  };

  return (
    <section aria-labelledby="suggest-title" class="suggestions">
      <h3 id="suggest-title">{t('assist.suggestions')}</h3>
      <div class="suggest-actions">
        <button type="button" class="small" disabled={busy} onClick={() => void ask('name', [])}>
          {t('assist.suggestName')}
        </button>
        <button type="button" class="small" disabled={busy} onClick={() => void ask('summary', [])}>
          {t('assist.suggestSummary')}
        </button>
      </div>
      {kind && (
        <div class="suggestion" aria-live="polite" data-testid="suggestion" data-kind={kind}>
          {busy && <p class="muted small">{t('app.loading')}</p>}
          {problem && <p class="error">{t('app.error', { detail: problem })}</p>}
          {!busy && current !== undefined && (
            <>
              <p class="muted small">{kind === 'name' ? t('assist.suggestedName') : t('assist.suggestedSummary')}</p>
              <p class="suggestion-text">{current}</p>
              <div class="suggest-actions">
                <button
                  type="button"
                  class="primary small"
                  onClick={async () => {
                    await onUse(suggestionPatch(kind, current), kind);
                    dismiss();
                  }}
                >
                  {t('assist.useIt')}
                </button>
                <button type="button" class="small" onClick={() => void ask(kind, shown)}>
                  {t('assist.another')}
                </button>
                <button type="button" class="ghost small" onClick={dismiss}>
                  {t('assist.dismiss')}
                </button>
              </div>
            </>
          )}
          {!busy && problem && current === undefined && (
            <button type="button" class="ghost small" onClick={dismiss}>
              {t('assist.dismiss')}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
