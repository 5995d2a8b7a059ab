// Screenshots of each layout (and of the assistance controls) for the docs: runs only when HELPDESK_SCREENSHOTS_DIR is set
// (e.g. HELPDESK_SCREENSHOTS_DIR=../docs/screenshots npx playwright test screenshots).
import { expect, test } from '@playwright/test';
import { AGENT_TOKEN, api, intake, SHOTS, settle, shot, similarTickets, useToken } from './helpers';

test.skip(!SHOTS, 'HELPDESK_SCREENSHOTS_DIR is not set');

test('screenshots of the sign-in page, table, board, split and admin pages', async ({ page, request }) => {
  await page.addInitScript(() => localStorage.setItem('helpdesk.lang', 'en'));
  await page.goto('/signin');
  await page.getByRole('button', { name: 'Use an API token instead' }).click();
  await shot(page, 'signin');

  await useToken(page);
  await page.goto('/tickets');
  await expect(page.locator('tr.row').first()).toBeVisible();
  await page.locator('body').press('j');
  await page.locator('body').press('j');
  await page.locator('tr.row').nth(2).getByRole('checkbox').check();
  await page.locator('tr.row').nth(3).getByRole('checkbox').check();
  await shot(page, 'table');

  await page.goto('/board');
  await expect(page.locator('.card').first()).toBeVisible();
  await shot(page, 'board');

  // split with a conversation: a form message, the agent's reply and an internal note
  const made = await intake(request, 'Printer in room 214 prints blank pages', 'Since this morning every page comes out blank. The toner is new.\n\nRegards,\nZofia');
  await api(request, 'POST', `/threads/${made.thread_id}/messages`, { kind: 'reply', body: 'Thank you, Zofia. Please check that the sealing tape was removed from the new cartridge; if it was, we will send a technician today.' });
  await api(request, 'POST', `/threads/${made.thread_id}/messages`, { kind: 'note', body: 'Third printer with this toner batch this week.' });
  await page.goto(`/tickets`);
  await page.goto(`/split/${made.ticket_id}`);
  await expect(page.locator('article.ticket [data-kind="note"]')).toBeVisible();
  await settle(page);
  await shot(page, 'split');

  await page.getByRole('button', { name: /Notifications/ }).click();
  await page.waitForTimeout(300);
  await shot(page, 'bell');

  await page.keyboard.press('Escape');
  await page.getByRole('combobox', { name: 'Language' }).selectOption('pl');
  await expect(page.getByRole('heading', { name: 'Właściwości' })).toBeVisible();
  await shot(page, 'split-pl');
  await page.getByRole('combobox', { name: 'Język' }).selectOption('en');

  await page.goto('/bin');
  await settle(page);
  await shot(page, 'bin');
  await page.goto('/preferences');
  await settle(page);
  await shot(page, 'preferences');

  for (const section of ['users', 'pipelines']) {
    await page.goto(`/admin/${section}`);
    await settle(page);
    await shot(page, `admin-${section}`);
  }
});

test('screenshots of the saved views menu, the SLA policies page and a ticket with an SLA', async ({ page, request }) => {
  const policy = await api(request, 'POST', '/sla-policies', {
    name: 'Urgent tickets',
    priority: 'urgent',
    first_reply_minutes: 60,
    next_reply_minutes: 240,
    close_minutes: 2880,
    pause_stage_ids: [],
    business_hours: { timezone: 'Europe/Warsaw', weekly: ['mon', 'tue', 'wed', 'thu', 'fri'].map((day) => ({ day, start: '09:00', end: '17:00' })), holidays: ['2026-12-25'] },
  });
  const standard = await api(request, 'POST', '/sla-policies', { name: 'Everything else', first_reply_minutes: 480, close_minutes: 10080 });
  const views = [
    await api(request, 'POST', '/views', {
      name: 'Urgent, open',
      filters: { priority: 'urgent', view: 'open' },
      sort: 'sla_due_at',
      columns: ['id', 'name', 'status', 'owner_id', 'sla', 'updated_at'],
      shared_with: 'everyone',
    }),
    await api(request, 'POST', '/views', { name: 'Unassigned printers', filters: { owner_id: 'none', q: 'printer' }, shared_with: 'private' }),
  ];
  try {
    await useToken(page);
    await page.goto(`/tickets?view_id=${views[0].body.id}`);
    await expect(page.locator('tr.row').first()).toBeVisible();
    await page.getByTestId('views-menu').click();
    await settle(page);
    await shot(page, 'views-menu');

    await page.goto('/admin/sla');
    await expect(page.getByRole('row').filter({ hasText: 'Urgent tickets' })).toBeVisible();
    await settle(page);
    await shot(page, 'admin-sla');

    const ticket = await api(request, 'POST', '/tickets', { name: 'Payment page times out for every customer', priority: 'urgent', description: 'Card payments fail after 30 seconds.' });
    await expect.poll(async () => (await api(request, 'GET', `/tickets/${ticket.body.id}`)).body.sla?.policy_id).toBe(policy.body.id);
    await page.goto(`/split/${ticket.body.id}`);
    await expect(page.getByTestId('ticket-sla')).toBeVisible();
    await settle(page);
    await shot(page, 'split-sla');
  } finally {
    for (const view of views) await api(request, 'DELETE', `/views/${view.body.id}`);
    for (const made of [policy, standard]) await api(request, 'DELETE', `/sla-policies/${made.body.id}`);
  }
});

test('screenshots of the mention list in a note and of recommended replies', async ({ browser, page, request }) => {
  test.skip(!AGENT_TOKEN, 'recommended replies need a seated agent (HELPDESK_AGENT_TOKEN)');
  test.setTimeout(120_000);
  const run = Date.now().toString(36);
  const { fresh } = await similarTickets(request, run);

  await useToken(page);
  await page.goto(`/split/${fresh.ticket_id}`);
  const conversation = page.locator('article.ticket').getByTestId('conversation');
  await conversation.getByRole('radio', { name: 'Internal note' }).check();
  const note = conversation.getByRole('textbox', { name: /Internal note/ });
  await note.click();
  await note.pressSequentially('Same as last winter, @a');
  await expect(page.getByTestId('mention-list')).toBeVisible();
  await page.getByTestId('mention-list').scrollIntoViewIfNeeded();
  await shot(page, 'mentions');

  const agent = await browser.newContext();
  const agentPage = await agent.newPage();
  await useToken(agentPage, AGENT_TOKEN);
  await agentPage.goto(`/split/${fresh.ticket_id}`);
  await agentPage.getByRole('button', { name: 'Suggest summary' }).click();
  await expect(agentPage.getByTestId('suggestion').locator('.suggestion-text')).not.toBeEmpty();
  await agentPage.getByRole('button', { name: 'Recommended replies' }).click();
  await expect(agentPage.getByTestId('recommended-replies').locator('li').first()).toBeVisible();
  await agentPage.getByTestId('recommended-replies').scrollIntoViewIfNeeded();
  await settle(agentPage, 200);
  await shot(agentPage, 'recommendations');
  await agent.close();
});
