// Inline editing of one property: its value is a button; activating it shows the control in place.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { FormActions } from './FormActions';

export interface Option {
  value: string;
  label: string;
  group?: string;
}

interface Common {
  label: string;
  display: string;
  testId?: string;
}

/** A property chosen from options: the change is saved as soon as it is picked. */
export function InlineSelect({ label, display, value, options, onSave, testId }: Common & { value: string; options: Option[]; onSave: (value: string) => void }) {
  const [editing, setEditing] = useState(false);
  const ref = useRef<HTMLSelectElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  useLayoutEffect(() => {
    if (editing) ref.current?.focus();
  }, [editing]);
  const finish = () => {
    setEditing(false);
    setTimeout(() => buttonRef.current?.focus(), 0);
  };
  if (!editing) {
    return (
      <button ref={buttonRef} type="button" class="inline-edit" data-testid={testId} onClick={() => setEditing(true)}>
        <span class="sr-only">{t('ticket.editField', { field: label })}: </span>
        {display}
      </button>
    );
  }
  const groups = [...new Set(options.map((o) => o.group ?? ''))];
  const render = (items: Option[]) => items.map((o) => <option value={o.value}>{o.label}</option>);
  return (
    <select
      ref={ref}
      aria-label={label}
      value={value}
      onChange={(e) => {
        const next = (e.target as HTMLSelectElement).value;
        finish();
        if (next !== value) onSave(next);
      }}
      onKeyDown={(e) => e.key === 'Escape' && (e.preventDefault(), finish())}
      onBlur={() => setEditing(false)}
    >
      {groups.length > 1
        ? groups.map((g) => <optgroup label={g}>{render(options.filter((o) => (o.group ?? '') === g))}</optgroup>)
        : render(options)}
    </select>
  );
}

/** A text property: Enter or leaving the field saves, Escape cancels. */
export function InlineText({ label, display, value, onSave, testId, multiline = false, allowEmpty = true }: Common & { value: string; onSave: (value: string) => void; multiline?: boolean; allowEmpty?: boolean }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(value);
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const settled = useRef(false);
  useLayoutEffect(() => {
    if (editing) {
      ref.current?.focus();
      ref.current?.select?.();
    }
  }, [editing]);
  const start = () => {
    // the draft is set before the field exists, so nothing typed into it is ever reset
    settled.current = false;
    setDraft(value);
    setEditing(true);
  };
  const close = () => {
    settled.current = true;
    setEditing(false);
    setTimeout(() => buttonRef.current?.focus(), 0);
  };
  const commit = () => {
    if (settled.current) return;
    const next = multiline ? draft : draft.trim();
    close();
    if (next !== value && (allowEmpty || next !== '')) onSave(next);
  };
  if (!editing) {
    return (
      <button ref={buttonRef} type="button" class={`inline-edit ${multiline ? 'multiline' : ''}`} data-testid={testId} onClick={start}>
        <span class="sr-only">{t('ticket.editField', { field: label })}: </span>
        {display}
      </button>
    );
  }
  if (multiline) {
    return (
      <div class="inline-multiline">
        <textarea
          ref={ref}
          aria-label={label}
          value={draft}
          rows={6}
          onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => e.key === 'Escape' && (e.preventDefault(), close())}
        />
        <FormActions label={t('app.save')} onSave={commit} onCancel={close} />
      </div>
    );
  }
  return (
    <input
      ref={ref}
      aria-label={label}
      value={draft}
      onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          commit();
        } else if (e.key === 'Escape') {
          e.preventDefault();
          close();
        }
      }}
      onBlur={commit}
    />
  );
}
