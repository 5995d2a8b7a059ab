import { t } from '../i18n';

interface Props {
  /** The primary button's text (Save, Create...). */
  label: string;
  /** Without it the primary button submits its form; with it, it is a plain button that calls it. */
  onSave?: () => void;
  /** Offers Cancel when given. */
  onCancel?: () => void;
  busy?: boolean;
}

/** A form's closing row: the primary action, then Cancel; one look and focus order everywhere. */
export function FormActions({ label, onSave, onCancel, busy }: Props) {
  return (
    <div class="row-actions">
      <button type={onSave ? 'button' : 'submit'} class="primary" disabled={busy} onClick={onSave}>
        {label}
      </button>
      {onCancel && (
        <button type="button" class="ghost" onClick={onCancel}>
          {t('app.cancel')}
        </button>
      )}
    </div>
  );
}
