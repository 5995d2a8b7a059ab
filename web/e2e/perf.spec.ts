// Figures the issue asks for: JavaScript shipped on first load (gzip) and navigation -> a rendered
// table of 100 tickets (p50 of 10 loads). They are printed as METRIC lines and kept in
// test-results/metrics.json; the asserted bounds are the aims.
import { gzipSync } from 'node:zlib';
import { expect, test } from '@playwright/test';
import { percentile, recordMetric, settle, useToken } from './helpers';

test('first load ships at most 200 KB of gzipped JavaScript', async ({ page }) => {
  await useToken(page);
  const scripts: { url: string; wire: number; gzip: number }[] = [];
  page.on('response', async (response) => {
    if (response.request().resourceType() !== 'script') return;
    const body = await response.body();
    const encoded = response.headers()['content-encoding'] === 'gzip';
    scripts.push({ url: response.url(), wire: encoded ? Number(response.headers()['content-length']) : body.length, gzip: gzipSync(body, { level: 9 }).length });
  });
  const first = page.waitForResponse((r) => r.request().resourceType() === 'script');
  await page.goto('/tickets');
  await first;
  await expect(page.locator('tr.row').first()).toBeVisible();
  await settle(page);
  expect(scripts.length).toBeGreaterThan(0);
  const gzip = scripts.reduce((sum, s) => sum + s.gzip, 0);
  const wire = scripts.reduce((sum, s) => sum + s.wire, 0);
  recordMetric('first_load_js_gzip_bytes', { gzip, wire, files: scripts.map((s) => s.url.replace(/^.*\/assets\//, 'assets/')) });
  expect(gzip).toBeLessThanOrEqual(200 * 1024);
});

test('navigation to a rendered table of 100 tickets, p50 of 10 loads', async ({ page, request }) => {
  const page100 = await request.get(`${process.env.HELPDESK_BASE_URL}/api/v1/tickets?limit=100`, {
    headers: { Authorization: `Bearer ${process.env.HELPDESK_TOKEN}` },
  });
  expect((await page100.json()).items.length, 'the suite must hold at least 100 tickets').toBe(100);
  await useToken(page);
  await page.goto('/tickets'); // warm: the browser now has the hashed assets cached (immutable)
  await expect(page.locator('tr.row').first()).toBeVisible();
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    await page.goto('/tickets');
    await page.waitForFunction(() => {
      const count = document.querySelector('.table-count')?.textContent ?? '';
      return document.querySelectorAll('tr.row').length >= 10 && /\d/.test(count);
    });
    // performance.now() counts from the navigation's start
    samples.push(Math.round(await page.evaluate(() => performance.now())));
  }
  const p50 = percentile(samples, 50);
  recordMetric('table_100_render_ms', { p50, max: Math.max(...samples), samples });
  expect(p50).toBeLessThanOrEqual(1500); // aim 500 ms; the bound leaves room for a busy 2-core CI machine
});

test('10,000 rows stay smooth: every page loads, the DOM stays small, frames stay short', async ({ page }) => {
  // The list API is answered here with 10,000 synthetic tickets (100 pages): this measures the
  // browser side only, without seeding 10,000 tickets into the suite.
  const TOTAL = 10_000;
  await useToken(page);
  // the synthetic tickets are not the suite's: its live events could only disturb the figures
  await page.route('**/api/v1/stream', (route) => route.abort());
  test.setTimeout(120_000); // loading 100 pages and 240 frames take ~55 s when the 2 cores are busy
  await page.route(/\/api\/v1\/tickets\?/, async (route) => {
    const url = new URL(route.request().url());
    const start = Number(url.searchParams.get('cursor') ?? 0);
    const limit = Number(url.searchParams.get('limit') ?? 25);
    const items = Array.from({ length: Math.min(limit, TOTAL - start) }, (_, i) => {
      const id = TOTAL - start - i;
      return {
        id, name: `Synthetic ticket ${id}`, description: '', pipeline_id: 1, status: 1, priority: 'medium', category: null,
        owner_id: null, team_id: null, source: 'api', associations: { contacts: [], companies: [], deals: [] },
        created_at: '2026-01-01T00:00:00+00:00', updated_at: '2026-01-01T00:00:00+00:00', closed_at: null, version: 1,
        unread: id % 3 === 0, following: false, merged_ticket_ids: [],
      };
    });
    const next = start + limit < TOTAL ? String(start + limit) : null;
    await route.fulfill({ json: { items, next_cursor: next, total: TOTAL } });
  });
  await page.goto('/tickets');
  await expect(page.locator('tr.row').first()).toBeVisible();
  const loadedIn = await page.evaluate(async () => {
    const began = performance.now();
    const el = document.querySelector<HTMLElement>('.table-scroll')!;
    for (let i = 0; i < 3000 && !document.querySelector('tr.row[data-ticket-id="1"]'); i++) {
      el.scrollTop = el.scrollHeight;
      await new Promise((r) => setTimeout(r, 5));
    }
    return performance.now() - began;
  });
  await expect(page.locator('tr.row[data-ticket-id="1"]')).toBeAttached();
  const sweep = await page.evaluate(async () => {
    const el = document.querySelector<HTMLElement>('.table-scroll')!;
    const frames: number[] = [];
    const longTasks: number[] = [];
    const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
    observer.observe({ type: 'longtask' });
    let maxRows = 0;
    el.scrollTop = el.scrollHeight;
    await new Promise((r) => requestAnimationFrame(r));
    let last = performance.now();
    // 360 px (10 rows) a frame, i.e. 21,600 px/s: a fast flick, for 240 frames
    for (let i = 0; i < 240 && el.scrollTop > 0; i++) {
      el.scrollTop -= 360;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      frames.push(now - last);
      last = now;
      maxRows = Math.max(maxRows, document.querySelectorAll('tr.row').length);
    }
    observer.disconnect();
    return { frames, maxRows, longTasks };
  });
  const frames = sweep.frames;
  recordMetric('scroll_10000_rows', {
    load_all_pages_ms: Math.round(loadedIn),
    dom_rows_max: sweep.maxRows,
    frames: frames.length,
    frame_p50_ms: Math.round(percentile(frames, 50) * 10) / 10,
    frame_p95_ms: Math.round(percentile(frames, 95) * 10) / 10,
    long_tasks_ms: sweep.longTasks.map(Math.round),
  });
  expect(sweep.maxRows).toBeLessThan(80);
  // frame times depend on the machine's load (2 shared cores): recorded, bounded loosely
  expect(percentile(frames, 50)).toBeLessThan(100);
});
