// A small history router: the path picks the page, the query string carries the list filters.
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  search: string;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: window.location.pathname, search: window.location.search };
}

export function navigate(to: string, { replace = false } = {}): void {
  const url = new URL(to, window.location.origin);
  if (url.pathname + url.search === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', url.pathname + url.search);
  else window.history.pushState(null, '', url.pathname + url.search);
  listeners.forEach((fn) => fn());
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return location;
}

/** Route a click on an in-app link through the router (ordinary clicks only). */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.currentTarget ?? event.target) as HTMLAnchorElement;
  const href = anchor.getAttribute('href');
  if (!href || !href.startsWith('/') || anchor.target) return;
  event.preventDefault();
  navigate(href);
}

export type Route =
  | { page: 'signin' }
  | { page: 'setPassword' }
  | { page: 'table' }
  | { page: 'board' }
  | { page: 'split'; ticketId: number | null }
  | { page: 'admin'; section: string }
  | { page: 'inbox' }
  | { page: 'bin' }
  | { page: 'spam' }
  | { page: 'preferences' }
  | { page: 'password' }
  | { page: 'home' }
  | { page: 'notFound' };

export function matchRoute(path: string): Route {
  const clean = path.replace(/\/+$/, '') || '/';
  if (clean === '/') return { page: 'home' };
  if (clean === '/signin') return { page: 'signin' };
  if (clean === '/set-password') return { page: 'setPassword' };
  if (clean === '/tickets') return { page: 'table' };
  if (clean === '/board') return { page: 'board' };
  if (clean === '/inbox') return { page: 'inbox' };
  if (clean === '/bin') return { page: 'bin' };
  if (clean === '/spam') return { page: 'spam' };
  if (clean === '/preferences') return { page: 'preferences' };
  if (clean === '/password') return { page: 'password' };
  if (clean === '/split') return { page: 'split', ticketId: null };
  const split = /^\/split\/(\d{1,12})$/.exec(clean);
  if (split) return { page: 'split', ticketId: Number(split[1]) };
  if (clean === '/admin') return { page: 'admin', section: 'users' };
  const admin = /^\/admin\/([a-z-]+)$/.exec(clean);
  if (admin) return { page: 'admin', section: admin[1] };
  return { page: 'notFound' };
}
