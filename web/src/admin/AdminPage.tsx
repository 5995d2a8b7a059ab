// Admin pages: users, seats, teams, API tokens, pipelines and stages, SLA policies (seat holders). The services decide who may
// change what; a 403 shows as "you need account access".
import { ApiError } from '../api';
import { t, type MessageKey } from '../i18n';
import { onLinkClick } from '../router';
import { hasSeat, useMe } from '../store';
import { PipelinesAdmin } from './PipelinesAdmin';
import { SeatsAdmin } from './SeatsAdmin';
import { SlaAdmin } from './SlaAdmin';
import { TeamsAdmin } from './TeamsAdmin';
import { TokensAdmin } from './TokensAdmin';
import { UsersAdmin } from './UsersAdmin';

const SECTIONS: [string, MessageKey][] = [
  ['users', 'admin.users'],
  ['seats', 'admin.seats'],
  ['teams', 'admin.teams'],
  ['tokens', 'admin.tokens'],
  ['pipelines', 'admin.pipelines'],
  ['sla', 'admin.sla'],
];

export function AdminPage({ section }: { section: string }) {
  const me = useMe();
  const sections = SECTIONS.filter(([s]) => s !== 'sla' || hasSeat(me) || section === 'sla');
  const body =
    section === 'users' ? <UsersAdmin /> :
    section === 'seats' ? <SeatsAdmin /> :
    section === 'teams' ? <TeamsAdmin /> :
    section === 'tokens' ? <TokensAdmin /> :
    section === 'pipelines' ? <PipelinesAdmin /> :
    section === 'sla' ? <SlaAdmin /> :
    <p>{t('app.notFound')}</p>;
  const title = SECTIONS.find(([s]) => s === section)?.[1];
  return (
    <div class="page admin-page">
      <nav class="admin-nav" aria-label={t('admin.nav')}>
        <ul>
          {sections.map(([s, key]) => (
            <li>
              <a href={`/admin/${s}`} onClick={onLinkClick} aria-current={s === section ? 'page' : undefined}>
                {t(key)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <section class="admin-body" aria-labelledby="page-title">
        <h1 id="page-title">{title ? t(title) : t('admin.title')}</h1>
        {body}
      </section>
    </div>
  );
}

export function AdminError({ error }: { error: unknown }) {
  if (!error) return null;
  const text =
    error instanceof ApiError && error.status === 403
      ? t('admin.forbidden')
      : t('app.error', { detail: error instanceof ApiError ? error.describe() : String(error) });
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}
