// A user's one-time set-password link (POST /api/v1/users/{id}/invite), shown once to the admin.
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { formatDateTime, t } from '../i18n';
import { announce } from '../toast';

export interface Invite {
  user_id: number;
  token: string;
  url: string;
  expires_at: string;
}

export function InviteLink({ user }: { user: { id: number; name: string } }) {
  const [invite, setInvite] = useState<Invite | null>(null);
  const [busy, setBusy] = useState(false);

  async function issue() {
    setBusy(true);
    try {
      setInvite(await api.post<Invite>(`/users/${user.id}/invite`));
    } catch (e) {
      announce(e instanceof ApiError ? e.describe() : String(e), 'error');
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!invite) return;
    try {
      await navigator.clipboard.writeText(invite.url);
      announce(t('invite.copied'));
    } catch {
      /* the field is selected: the admin copies it by hand */
    }
  }

  if (!invite) {
    return (
      <button type="button" class="small" disabled={busy} onClick={() => void issue()} aria-label={t('invite.issueFor', { name: user.name })}>
        {t('invite.issue')}
      </button>
    );
  }
  return (
    <span class="invite-link">
      <input
        type="text"
        readOnly
        value={invite.url}
        aria-label={t('invite.linkFor', { name: user.name, until: formatDateTime(invite.expires_at) })}
        onFocus={(e) => (e.currentTarget as HTMLInputElement).select()}
      />
      <button type="button" class="small" onClick={() => void copy()}>
        {t('invite.copy')}
      </button>
    </span>
  );
}
