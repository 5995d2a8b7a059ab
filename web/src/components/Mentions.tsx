/**
 * @mentions for the note composer: typing `@` and letters offers the matching people (those the
 * workspace can list, the writer left out: nobody is told of their own note); arrows move,
 * Enter or Tab puts the highlighted one in as `@Full Name`, Escape closes the list. The textarea
 * stays focused throughout and names the list and its highlighted option for screen readers.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { listKey } from '../assist';
import { t } from '../i18n';
import { insertMention, matchPeople, mentionAt, type MentionQuery, type Person } from '../mentions';
import { OptionList, optionId } from './OptionList';

const LIST_ID = 'mention-list';

export interface MentionControl {
  /** Attributes for the textarea (the list it controls, the highlighted option). */
  fieldProps: Record<string, string | undefined>;
  /** Call after every input and caret move. */
  track: (text: string, caret: number) => void;
  /** Call first on keydown; true when the key was the list's (its default is then prevented). */
  onKeyDown: (event: KeyboardEvent) => boolean;
  popup: preact.JSX.Element | null;
}

export function useMentions({
  enabled,
  people,
  text,
  setText,
  field,
}: {
  enabled: boolean;
  people: Person[];
  text: string;
  setText: (text: string) => void;
  field: { current: HTMLTextAreaElement | null };
}): MentionControl {
  const [at, setAt] = useState<{ query: MentionQuery; caret: number } | null>(null);
  const [chosen, setActive] = useState(0);
  const caretAfter = useRef<number | null>(null);
  const matches = enabled && at ? matchPeople(people, at.query.query) : [];
  const open = matches.length > 0;
  const active = Math.min(chosen, matches.length - 1);

  useEffect(() => {
    if (caretAfter.current === null || !field.current) return;
    field.current.setSelectionRange(caretAfter.current, caretAfter.current);
    caretAfter.current = null;
  }, [text]);
  useEffect(() => {
    if (!enabled) setAt(null);
  }, [enabled]);

  function track(value: string, caret: number) {
    const query = enabled ? mentionAt(value, caret) : null;
    if (!query) return setAt(null);
    if (!at || at.query.start !== query.start || at.query.query !== query.query) setActive(0);
    setAt({ query, caret });
  }

  function pick(person: Person) {
    if (!at) return;
    const next = insertMention(text, at.query, at.caret, person.name);
    caretAfter.current = next.caret;
    setAt(null);
    setText(next.text);
    field.current?.focus();
  }

  function onKeyDown(event: KeyboardEvent): boolean {
    if (!open) return false;
    const action = listKey(event.key, active, matches.length);
    if (!action || event.ctrlKey || event.metaKey || event.altKey) return false;
    event.preventDefault();
    event.stopPropagation();
    if ('move' in action) setActive(action.move);
    else if ('pick' in action) pick(matches[action.pick]);
    else setAt(null);
    return true;
  }

  return {
    fieldProps: {
      'aria-autocomplete': enabled ? 'list' : undefined,
      'aria-controls': open ? LIST_ID : undefined,
      'aria-activedescendant': open ? optionId(LIST_ID, active) : undefined,
    },
    track,
    onKeyDown,
    popup: open ? (
      <div class="mention-popup" data-testid="mention-list">
        <OptionList
          id={LIST_ID}
          label={t('assist.mentionList')}
          items={matches}
          active={active}
          onPick={pick}
          render={(person) => (
            <>
              <strong>{person.name}</strong> <span class="muted small">{person.email}</span>
            </>
          )}
        />
        <p class="muted small">{t('assist.mentionHint')}</p>
      </div>
    ) : null,
  };
}
