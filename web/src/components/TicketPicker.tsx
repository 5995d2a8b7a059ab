/**
 * A ticket field that finds tickets as the agent types: words search the tickets' names and
 * descriptions (`GET /tickets?q=`), a number also looks that ticket up; the matches open as a
 * list under the field (arrows, Enter or Tab to pick, Escape to close) and a pick puts `#id` in the
 * field, so a number typed by hand still works as it did. Only tickets the agent may see are found.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { listKey, ticketChoices, ticketNumber } from '../assist';
import { tickets } from '../endpoints';
import { t } from '../i18n';
import type { Ticket } from '../types';
import { OptionList, optionId } from './OptionList';

const SEARCH_DELAY_MS = 250;

export function TicketPicker({
  id,
  value,
  onChange,
  invalid,
  describedBy,
}: {
  id: string;
  value: string;
  onChange: (text: string) => void;
  invalid: boolean;
  describedBy: string;
}) {
  const [choices, setChoices] = useState<Ticket[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [picked, setPicked] = useState<Ticket | null>(null);
  const [searching, setSearching] = useState(false);
  const run = useRef(0);
  const listId = `${id}-list`;

  useEffect(() => {
    const text = value.trim();
    const number = ticketNumber(text);
    if (picked && number === picked.id) return;
    setPicked(null);
    if (text.replace(/^#/, '').length < 2 && number === null) {
      run.current++;
      setChoices([]);
      setSearching(false);
      return;
    }
    const mine = ++run.current;
    setSearching(true);
    const timer = setTimeout(async () => {
      const missing = (e: unknown) => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 403 || e.status === 301)) return null;
        throw e;
      };
      try {
        const [byNumber, found] = await Promise.all([
          number === null ? null : tickets.get(number).catch(missing),
          tickets.list({ q: text.replace(/^#/, ''), limit: 8, sort: '-updated_at' }).then((page) => page.items),
        ]);
        if (mine !== run.current) return;
        setChoices(ticketChoices(byNumber, found));
        setActive(-1);
        setOpen(true);
      } catch {
        if (mine === run.current) setChoices([]);
      } finally {
        if (mine === run.current) setSearching(false);
      }
    }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [value]);

  function pick(ticket: Ticket) {
    setPicked(ticket);
    setOpen(false);
    setChoices([]);
    onChange(`#${ticket.id}`);
  }

  const expanded = open && choices.length > 0;
  return (
    <div class="ticket-picker">
      <input
        id={id}
        type="text"
        role="combobox"
        autoComplete="off"
        value={value}
        aria-expanded={expanded}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={expanded && active >= 0 ? optionId(listId, active) : undefined}
        aria-describedby={`${describedBy} ${id}-status`}
        aria-invalid={invalid}
        onInput={(e) => {
          setOpen(true);
          onChange((e.target as HTMLInputElement).value);
        }}
        onKeyDown={(e) => {
          if (!expanded) {
            if (e.key === 'ArrowDown' && choices.length > 0) {
              e.preventDefault();
              setOpen(true);
            }
            return;
          }
          const action = listKey(e.key, active, choices.length);
          if (!action) return;
          e.preventDefault();
          e.stopPropagation();
          if ('move' in action) setActive(action.move);
          else if ('pick' in action) pick(choices[action.pick]);
          else setOpen(false);
        }}
        onBlur={() => setOpen(false)}
      />
      {expanded ? (
        <OptionList
          id={listId}
          label={t('assist.ticketMatches')}
          items={choices}
          active={active}
          onPick={pick}
          render={(ticket) => (
            <>
              <span class="muted">#{ticket.id}</span> {ticket.name}
            </>
          )}
        />
      ) : (
        <ul id={listId} role="listbox" aria-label={t('assist.ticketMatches')} hidden />
      )}
      <p id={`${id}-status`} class="muted small" aria-live="polite">
        {picked
          ? t('assist.ticketPicked', { id: picked.id, name: picked.name })
          : searching
            ? t('assist.searching')
            : open && value.trim() && choices.length === 0 && !searching && value.trim().replace(/^#/, '').length >= 2
              ? t('assist.noTickets')
              : ''}
      </p>
    </div>
  );
}
