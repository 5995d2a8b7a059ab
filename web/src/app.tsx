// The workspace shell: header (layouts, admin, bell, language, shortcuts, sign-out) and the page.
import { useEffect, useRef, useState } from 'preact/hooks';
import { isSignedIn, onAuthChange, signOut } from './auth';
import { AdminPage } from './admin/AdminPage';
import { Bell } from './components/Bell';
import { BinPage, SpamPage } from './components/BinPage';
import { BoardPage } from './components/BoardPage';
import { ChangePasswordPage } from './components/ChangePasswordPage';
import { InboxPage } from './components/InboxPage';
import { PreferencesPage } from './components/PreferencesPage';
import { ShortcutsDialog } from './components/ShortcutsDialog';
import { SetPassword } from './components/SetPassword';
import { SignIn } from './components/SignIn';
import { SplitPage } from './components/SplitPage';
import { TablePage } from './components/TablePage';
import { LANGUAGES, getLanguage, onLanguageChange, setLanguage, t, type Lang } from './i18n';
import { useShortcuts } from './keyboard';
import { matchRoute, navigate, onLinkClick, useLocation } from './router';
import { can, clearSharedData, useMe } from './store';
import { useToasts, dismiss } from './toast';

export function App() {
  const [, setLang] = useState<Lang>(getLanguage());
  const [signedIn, setSignedIn] = useState(isSignedIn());
  useEffect(() => onLanguageChange(setLang), []);
  useEffect(
    () =>
      onAuthChange(() => {
        clearSharedData();
        setSignedIn(isSignedIn());
      }),
    [],
  );
  const location = useLocation();
  const route = matchRoute(location.path);

  useEffect(() => {
    if (signedIn && (route.page === 'home' || route.page === 'signin')) navigate('/tickets', { replace: true });
  }, [signedIn, route.page]);

  if (route.page === 'setPassword') return <SetPassword />;
  if (!signedIn) return <SignIn />;
  return <Workspace path={location.path} search={location.search} />;
}

const TITLES = {
  table: 'nav.table',
  board: 'nav.board',
  split: 'nav.split',
  admin: 'nav.admin',
  inbox: 'inbox.title',
  bin: 'nav.bin',
  spam: 'nav.spam',
  preferences: 'prefs.title',
  password: 'account.title',
} as const;

function Workspace({ path, search }: { path: string; search: string }) {
  const route = matchRoute(path);
  const [helpOpen, setHelpOpen] = useState(false);
  const me = useMe();
  const mainRef = useRef<HTMLElement>(null);
  const layoutSearch = ['table', 'board', 'split'].includes(route.page) ? search : '';

  useShortcuts([
    { key: '?', run: () => setHelpOpen(true) },
    { key: '1', run: () => navigate(`/tickets${layoutSearch}`) },
    { key: '2', run: () => navigate(`/board${layoutSearch}`) },
    { key: '3', run: () => navigate(`/split${layoutSearch}`) },
  ]);

  useEffect(() => {
    const page = route.page in TITLES ? t(TITLES[route.page as keyof typeof TITLES]) : t('app.name');
    document.title = `${page} · ${t('app.name')}`;
  });

  let page;
  switch (route.page) {
    case 'table':
      page = <TablePage search={search} />;
      break;
    case 'board':
      page = <BoardPage search={search} />;
      break;
    case 'split':
      page = <SplitPage search={search} ticketId={route.ticketId} />;
      break;
    case 'admin':
      page = <AdminPage section={route.section} />;
      break;
    case 'inbox':
      page = <InboxPage />;
      break;
    case 'bin':
      page = <BinPage />;
      break;
    case 'spam':
      page = <SpamPage />;
      break;
    case 'preferences':
      page = <PreferencesPage />;
      break;
    case 'password':
      page = <ChangePasswordPage />;
      break;
    case 'home':
    case 'signin':
    case 'setPassword':
      page = <p class="muted">{t('app.loading')}</p>;
      break;
    default:
      page = <p>{t('app.notFound')}</p>;
  }

  const navLink = (href: string, label: string, active: boolean, keyHint: string) => (
    <a href={href} onClick={onLinkClick} aria-current={active ? 'page' : undefined} aria-keyshortcuts={keyHint} class="nav-link">
      {label} <kbd aria-hidden="true">{keyHint}</kbd>
    </a>
  );

  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        {t('app.skip')}
      </a>
      <header class="topbar">
        <span class="brand">{t('app.name')}</span>
        <nav aria-label={t('app.mainNav')} class="main-nav">
          {navLink(`/tickets${layoutSearch}`, t('nav.table'), route.page === 'table', '1')}
          {navLink(`/board${layoutSearch}`, t('nav.board'), route.page === 'board', '2')}
          {navLink(`/split${layoutSearch}`, t('nav.split'), route.page === 'split', '3')}
          <a href="/inbox" onClick={onLinkClick} aria-current={route.page === 'inbox' ? 'page' : undefined} class="nav-link">
            {t('nav.inbox')}
          </a>
          {can(me, 'delete_tickets', 'bulk_delete', 'account_access') && (
            <a href="/bin" onClick={onLinkClick} aria-current={route.page === 'bin' ? 'page' : undefined} class="nav-link">
              {t('nav.bin')}
            </a>
          )}
          {can(me, 'delete_tickets') && (
            <a href="/spam" onClick={onLinkClick} aria-current={route.page === 'spam' ? 'page' : undefined} class="nav-link">
              {t('nav.spam')}
            </a>
          )}
          <a href="/admin/users" onClick={onLinkClick} aria-current={route.page === 'admin' ? 'page' : undefined} class="nav-link">
            {t('nav.admin')}
          </a>
        </nav>
        <div class="topbar-tools">
          <Bell />
          <a href="/preferences" onClick={onLinkClick} class="nav-link" aria-current={route.page === 'preferences' ? 'page' : undefined}>
            {t('prefs.link')}
          </a>
          <a href="/password" onClick={onLinkClick} class="nav-link" aria-current={route.page === 'password' ? 'page' : undefined}>
            {t('account.link')}
          </a>
          <label class="lang">
            <span class="sr-only">{t('app.language')}</span>
            <select value={getLanguage()} onChange={(e) => setLanguage((e.target as HTMLSelectElement).value as Lang)}>
              {LANGUAGES.map((l) => (
                <option value={l.code} lang={l.code}>
                  {l.name}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="ghost" onClick={() => setHelpOpen(true)} aria-keyshortcuts="?">
            {t('app.shortcuts')} <kbd aria-hidden="true">?</kbd>
          </button>
          {me && <span class="whoami">{t('app.signedInAs', { name: me.name })}</span>}
          <button type="button" class="ghost" onClick={() => void signOut()}>
            {t('app.signOut')}
          </button>
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {page}
      </main>
      <Toasts />
      {helpOpen && <ShortcutsDialog onClose={() => setHelpOpen(false)} />}
    </div>
  );
}

function Toasts() {
  const toasts = useToasts();
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((toast) => (
        <div class={`toast ${toast.kind}`} key={toast.id}>
          <span>{toast.text}</span>
          <button type="button" class="ghost small" onClick={() => dismiss(toast.id)} aria-label={t('app.close')}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
