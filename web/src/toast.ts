// Short messages for everyone: shown in a status bar and read out by screen readers (aria-live).
import { useEffect, useState } from 'preact/hooks';

export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

let toasts: Toast[] = [];
let nextId = 1;
const listeners = new Set<() => void>();

export function announce(text: string, kind: Toast['kind'] = 'info', ms = 5000): void {
  const toast = { id: nextId++, text, kind };
  toasts = [...toasts.slice(-2), toast];
  listeners.forEach((fn) => fn());
  setTimeout(() => dismiss(toast.id), ms);
}

export function dismiss(id: number): void {
  toasts = toasts.filter((x) => x.id !== id);
  listeners.forEach((fn) => fn());
}

export function useToasts(): Toast[] {
  const [, force] = useState(0);
  useEffect(() => {
    const fn = () => force((n) => n + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return toasts;
}
