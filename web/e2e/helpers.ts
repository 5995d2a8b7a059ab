import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';

export const BASE = process.env.HELPDESK_BASE_URL ?? '';
export const ADMIN_TOKEN = process.env.HELPDESK_TOKEN ?? '';
export const AGENT_TOKEN = process.env.HELPDESK_AGENT_TOKEN ?? '';
export const SHOTS = process.env.HELPDESK_SCREENSHOTS_DIR ?? '';
const METRICS = process.env.HELPDESK_METRICS_OUT ?? 'test-results/metrics.json';

if (!BASE || !ADMIN_TOKEN) throw new Error('HELPDESK_BASE_URL and HELPDESK_TOKEN must name a running help desk');

/** Signs the page in with an API token the way the app keeps it (sessionStorage), before any script runs. */
export async function useToken(page: Page, token = ADMIN_TOKEN): Promise<void> {
  await page.addInitScript((value) => {
    if (!sessionStorage.getItem('helpdesk.auth')) sessionStorage.setItem('helpdesk.auth', JSON.stringify({ mode: 'token', token: value }));
    localStorage.setItem('helpdesk.lang', 'en');
  }, token);
}

export interface TicketBody {
  name: string;
  priority?: string;
  description?: string;
  status?: number;
  owner_id?: number | null;
}

export async function api(request: APIRequestContext, method: string, path: string, body?: unknown, token = ADMIN_TOKEN, headers: Record<string, string> = {}) {
  const response = await request.fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...headers },
    data: body === undefined ? undefined : body,
  });
  const text = await response.text();
  return { status: response.status(), body: text ? JSON.parse(text) : undefined, headers: response.headers() };
}

export async function createTicket(request: APIRequestContext, body: TicketBody, token = ADMIN_TOKEN) {
  const answer = await api(request, 'POST', '/tickets', body, token);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body as { id: number; version: number; status: number; pipeline_id: number; priority: string; name: string };
}

/** Reads a ticket as the agent (reading marks it read for that reader only). */
export async function readTicket(request: APIRequestContext, id: number, token = AGENT_TOKEN || ADMIN_TOKEN) {
  const answer = await api(request, 'GET', `/tickets/${id}`, undefined, token);
  expect(answer.status).toBe(200);
  return answer.body as { id: number; version: number; status: number; priority: string; owner_id: number | null; name: string };
}

export async function pipelines(request: APIRequestContext) {
  return (await api(request, 'GET', '/pipelines')).body as { id: number; label: string; stages: { id: number; label: string; state: string }[] }[];
}

/**
 * Closes a ticket through the API: its pipeline's first CLOSED stage, with If-Match. What follows a
 * message (a reply assigns an unassigned ticket to the replier) may change the ticket in between:
 * a 412 reads it again and retries.
 */
export async function closeTicket(request: APIRequestContext, ticketId: number): Promise<void> {
  let last: { status: number; body: unknown } = { status: 0, body: null };
  for (let attempt = 0; attempt < 20; attempt++) {
    const ticket = (await api(request, 'GET', `/tickets/${ticketId}`)).body as { version: number; pipeline_id: number };
    const stage = (await pipelines(request)).find((p) => p.id === ticket.pipeline_id)?.stages.find((s) => s.state === 'CLOSED');
    expect(stage, `a CLOSED stage in pipeline ${ticket.pipeline_id}`).toBeTruthy();
    last = await api(request, 'PATCH', `/tickets/${ticketId}`, { status: stage!.id }, ADMIN_TOKEN, { 'If-Match': `"${ticket.version}"` });
    if (last.status !== 412) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(last.status, JSON.stringify(last.body)).toBe(200);
}

/**
 * A closed ticket with an agent's reply and a new ticket on the same rare words, once the new one
 * is recommended that reply (the search index follows the conversation's events).
 */
export async function similarTickets(request: APIRequestContext, run: string, token = AGENT_TOKEN) {
  const words = `zeppelin hangar thermostat ${run}`;
  const solved = await intake(request, `Thermostat in the zeppelin hangar ${run}`, `The ${words} shows 40 degrees and the hangar is freezing.`);
  const answer = `Reset the ${words} by holding its blue button for ten seconds, then wait a minute for it to read the room again.`;
  const replied = await api(request, 'POST', `/threads/${solved.thread_id}/messages`, { kind: 'reply', body: answer });
  expect(replied.status, JSON.stringify(replied.body)).toBe(201);
  await closeTicket(request, solved.ticket_id);
  const fresh = await intake(request, `Hangar thermostat wrong ${run}`, `Our ${words} reads 40 degrees again, the hangar is cold.`, 'marek@example.com');
  await expect
    .poll(async () => {
      const recs = await api(request, 'GET', `/tickets/${fresh.ticket_id}/reply-recommendations`, undefined, token);
      return (recs.body?.items ?? []).some((r: { source_ticket_id: number }) => r.source_ticket_id === solved.ticket_id);
    }, { timeout: 30_000 })
    .toBe(true);
  return { solved, fresh, answer };
}

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core on the page as it is now: no serious or critical violation allowed. */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe !== 'undefined');
  if (!loaded) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (violations.length) console.log(`axe ${label}: ${violations.map((v) => `${v.impact} ${v.id}`).join(', ')}`);
  expect(bad, `axe on ${label}:\n${JSON.stringify(bad, null, 2)}`).toEqual([]);
}

export async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  if (!existsSync(SHOTS)) mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

export function recordMetric(name: string, value: unknown): void {
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(METRICS, 'utf8'));
  } catch {
    /* first metric */
  }
  all[name] = value;
  mkdirSync(dirname(METRICS), { recursive: true });
  writeFileSync(METRICS, JSON.stringify(all, null, 2));
  console.log(`METRIC ${name} ${JSON.stringify(value)}`);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

/**
 * The page has finished loading what it shows: nothing says "Loading…" and nothing more arrives
 * for a moment. (Not Playwright's `networkidle`: the live stream keeps a request open for good.)
 */
export async function settle(page: Page, quietMs = 400): Promise<void> {
  await expect(page.getByText('Loading…', { exact: false })).toHaveCount(0);
  await page.waitForTimeout(quietMs);
}

/** A message arriving on the form channel: a new thread and ticket (the answer names both). */
export async function intake(request: APIRequestContext, subject: string, body: string, email = 'zofia@example.com') {
  const answer = await api(request, 'POST', '/intake/messages', { channel: 'form', from: { email, name: 'Zofia Klientka' }, subject, body });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body as { thread_id: number; message_id: number; ticket_id: number };
}

/** Sends one email to the suite's inbound SMTP port (HELPDESK_SMTP_PORT), the way a mail client would. */
export async function sendMail(mail: { from: string; to: string; subject: string; body: string; messageId: string; inReplyTo?: string }): Promise<void> {
  const { connect } = await import('node:net');
  const port = Number(process.env.HELPDESK_SMTP_PORT);
  if (!port) throw new Error('HELPDESK_SMTP_PORT names the suite’s inbound SMTP port');
  const headers = [
    `From: ${mail.from}`,
    `To: ${mail.to}`,
    `Subject: ${mail.subject}`,
    `Message-ID: <${mail.messageId}>`,
    ...(mail.inReplyTo ? [`In-Reply-To: <${mail.inReplyTo}>`, `References: <${mail.inReplyTo}>`] : []),
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  const data = `${headers.join('\r\n')}\r\n\r\n${mail.body.replace(/^\./gm, '..')}\r\n.`;
  const bare = (address: string) => /<([^>]+)>/.exec(address)?.[1] ?? address;
  const steps = ['EHLO e2e.test', `MAIL FROM:<${bare(mail.from)}>`, `RCPT TO:<${bare(mail.to)}>`, 'DATA', data, 'QUIT'];
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    let step = -1; // the greeting comes first
    socket.setEncoding('utf8');
    socket.setTimeout(30_000, () => socket.destroy(new Error('SMTP timed out')));
    socket.on('error', reject);
    socket.on('close', () => (step >= steps.length - 1 ? resolve() : reject(new Error(`SMTP closed early: ${buffer}`))));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      // a complete reply: its last line is "NNN text"
      const lines = buffer.split('\r\n').filter(Boolean);
      const last = lines[lines.length - 1] ?? '';
      if (!buffer.endsWith('\r\n') || !/^\d{3} /.test(last)) return;
      const code = Number(last.slice(0, 3));
      buffer = '';
      if (code >= 400) return socket.destroy(new Error(`SMTP refused step ${step}: ${last}`));
      step += 1;
      if (step < steps.length) socket.write(`${steps[step]}\r\n`);
    });
  });
}

/** Fail each test of the calling spec in which the page logged a Content-Security-Policy refusal:
 * nothing the workspace does may be refused by its policy (no inline script or style). */
export function failOnCspRefusals(): void {
  let refusals: string[] = [];
  test.beforeEach(({ page }) => {
    refusals = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) refusals.push(message.text());
    });
  });
  test.afterEach(() => {
    expect(refusals, 'CSP refusals').toEqual([]);
  });
}
