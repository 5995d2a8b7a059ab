// Conversations and ticket lifecycle in the browser: a form message becomes a ticket, the agent
// replies from split (the reply reaches the SMTP sink), merges two tickets, bulk deletes with the
// typed count and restores from the recycle bin, marks spam and back; live updates between two
// browser contexts; notification preferences.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { AGENT_TOKEN, api, createTicket, expectAccessible, intake, readTicket, sendMail, settle, useToken, failOnCspRefusals } from './helpers';

const RUN = Date.now().toString(36);
const SINK = process.env.HELPDESK_SMTP_SINK_DIR ?? '';

test.describe.configure({ mode: 'serial' });

failOnCspRefusals();

function sunkMessages(): string[] {
  return readdirSync(SINK)
    .filter((name) => name.endsWith('.eml'))
    .map((name) => readFileSync(join(SINK, name), 'utf8'));
}

async function openSplit(page: Page, ticketId: number) {
  await page.goto(`/split/${ticketId}`);
  const detail = page.locator(`article.ticket[data-ticket-id="${ticketId}"]`);
  await expect(detail).toBeVisible();
  return detail;
}

test('a form message becomes a ticket; the reply from split reaches the customer by email', async ({ page }) => {
  test.skip(!SINK, 'HELPDESK_SMTP_SINK_DIR names the SMTP sink the suite relays to');
  const subject = `Toner everywhere ${RUN}`;
  const made = await intake(page.request, subject, 'The printer sprays toner on the floor.');
  await useToken(page);
  const detail = await openSplit(page, made.ticket_id);
  const conversation = detail.getByTestId('conversation');
  await expect(conversation.locator(`[data-thread-id="${made.thread_id}"]`)).toContainText(subject);
  await expect(conversation.locator('[data-kind="customer"]')).toContainText('The printer sprays toner on the floor.');
  await settle(page);
  await expectAccessible(page, 'split with a conversation');

  // r focuses the composer; Send reply posts it
  await page.locator('body').press('r');
  const composer = detail.getByRole('textbox', { name: /Reply to the customer/ });
  await expect(composer).toBeFocused();
  const text = `Please unplug it, we send a technician ${RUN}.`;
  await composer.fill(text);
  await detail.getByRole('button', { name: 'Send reply' }).click();
  await expect(conversation.locator('[data-kind="reply"]')).toContainText(text);
  await expect(page.getByRole('status').first()).toContainText('Reply sent.');

  // the customer gets it: the suite relays outgoing mail to the sink
  await expect.poll(() => sunkMessages().filter((m) => m.includes(RUN) && m.includes('zofia@example.com')).length, { timeout: 30_000 }).toBeGreaterThan(0);
  const mail = sunkMessages().find((m) => m.includes(`technician ${RUN}`));
  expect(mail).toBeTruthy();
  expect(mail).toContain(`[#${made.ticket_id}]`);

  // a note stays internal
  await detail.getByRole('radio', { name: 'Internal note' }).check();
  await detail.getByRole('textbox', { name: /Internal note/ }).fill(`Ordered toner ${RUN}`);
  await detail.getByRole('button', { name: 'Add note' }).click();
  await expect(conversation.locator('[data-kind="note"]')).toContainText(`Ordered toner ${RUN}`);

  // print opens the thread's printable page (customer and agent messages, no notes)
  const popup = page.waitForEvent('popup');
  await conversation.getByRole('button', { name: 'Print' }).click();
  const printed = await popup;
  await expect(printed.locator('body')).toContainText(text, { timeout: 15_000 });
  await expect(printed.locator('body')).not.toContainText(`Ordered toner ${RUN}`);
  await printed.close();
});

test('a reply with a changed Cc and an attached file reaches the customer so', async ({ page }) => {
  test.skip(!SINK, 'HELPDESK_SMTP_SINK_DIR names the SMTP sink the suite relays to');
  const made = await intake(page.request, `Invoice copy ${RUN}`, 'Please send the invoice again.', 'marta@example.com');
  await useToken(page);
  const detail = await openSplit(page, made.ticket_id);
  await expect(detail.getByRole('textbox', { name: 'To', exact: true })).toHaveValue('marta@example.com');
  await detail.getByRole('textbox', { name: 'Cc', exact: true }).fill('accounts@example.com');
  await detail.getByLabel('Attach files').setInputFiles({ name: `invoice-${RUN}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`Invoice ${RUN}: 100 PLN`) });
  await expect(detail.getByRole('button', { name: `Remove invoice-${RUN}.txt` })).toBeVisible();
  await detail.getByRole('textbox', { name: /Reply to the customer/ }).fill(`Attached again ${RUN}.`);
  await settle(page);
  await expectAccessible(page, 'composer with a file');
  await detail.getByRole('button', { name: 'Send reply' }).click();
  const reply = detail.getByTestId('conversation').locator('[data-kind="reply"]', { hasText: `Attached again ${RUN}.` });
  await expect(reply).toBeVisible();
  await expect(reply.getByRole('link', { name: `Download invoice-${RUN}.txt` })).toBeVisible();
  await expect(reply).toContainText('Cc: accounts@example.com');

  await expect.poll(() => sunkMessages().filter((m) => m.includes(`Attached again ${RUN}`)).length, { timeout: 30_000 }).toBeGreaterThan(0);
  const mail = sunkMessages().find((m) => m.includes(`Attached again ${RUN}`)) ?? '';
  expect(mail).toMatch(/^Cc: accounts@example\.com/im);
  expect(mail).toContain(`invoice-${RUN}.txt`);
  const content = `Invoice ${RUN}: 100 PLN`;
  expect(mail.includes(content) || mail.includes(Buffer.from(content).toString('base64')), 'the file is in the mail').toBe(true);
});

test('merge two tickets: the picked primary survives with both conversations', async ({ page, request }) => {
  const a = await intake(request, `Merge A ${RUN}`, 'First message about the invoice.', 'jan@example.com');
  const b = await intake(request, `Merge B ${RUN}`, 'Second message about the same invoice.', 'jan@example.com');
  await useToken(page);
  const detail = await openSplit(page, a.ticket_id);
  await detail.getByRole('button', { name: /^Merge…/ }).click();
  const dialog = page.getByRole('dialog', { name: `Merge ticket #${a.ticket_id} with another` });
  await dialog.getByLabel('Other ticket number').fill(String(b.ticket_id));
  await dialog.getByRole('button', { name: 'Find' }).click();
  await expect(dialog.getByRole('radio', { name: new RegExp(`#${b.ticket_id} Merge B`) })).toBeVisible();
  await expectAccessible(page, 'merge dialog');
  // keep B: the open ticket (A) is absorbed and the pane moves to the survivor
  await dialog.getByRole('radio', { name: new RegExp(`#${b.ticket_id} Merge B`) }).check();
  await dialog.getByRole('button', { name: 'Merge' }).click();
  await expect(page).toHaveURL(new RegExp(`/split/${b.ticket_id}`));
  const survivor = page.locator(`article.ticket[data-ticket-id="${b.ticket_id}"]`);
  await expect(survivor.getByTestId('merged-ids')).toHaveText(`#${a.ticket_id}`);
  await expect(survivor.getByTestId('conversation')).toContainText('First message about the invoice.');
  await expect(survivor.getByTestId('conversation')).toContainText('Second message about the same invoice.');
  const absorbed = await api(request, 'GET', `/tickets/${b.ticket_id}`);
  expect(absorbed.body.merged_ticket_ids).toEqual([a.ticket_id]);
});

test('bulk delete with the typed count; restore one from the recycle bin', async ({ page, request }) => {
  const ids: number[] = [];
  for (const n of [1, 2, 3]) ids.push((await createTicket(request, { name: `Junk ${RUN} ${n}` })).id);
  await useToken(page);
  await page.goto(`/tickets?q=Junk+${RUN}`);
  await expect(page.locator('tr.row')).toHaveCount(3);
  await page.getByRole('checkbox', { name: 'Select all loaded tickets' }).check();
  await page.getByRole('button', { name: 'Delete selected…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete the selected tickets' });
  const confirm = dialog.getByRole('button', { name: 'Delete 3 tickets' });
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel(/type the number of tickets/).fill('2');
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel(/type the number of tickets/).fill('3');
  await expectAccessible(page, 'bulk delete dialog');
  const sent = page.waitForRequest((r) => r.url().endsWith('/api/v1/tickets/bulk-delete'));
  await confirm.click();
  expect((await sent).postDataJSON()).toEqual({ ids: expect.arrayContaining(ids), confirm_count: 3 });
  await expect(page.locator('tr.row')).toHaveCount(0);
  for (const id of ids) expect((await api(request, 'GET', `/tickets/${id}`)).status).toBe(404);

  await page.getByRole('link', { name: 'Recycle bin' }).click();
  await expect(page.getByRole('heading', { name: 'Recycle bin', level: 1 })).toBeVisible();
  const row = page.locator(`tr[data-ticket-id="${ids[0]}"]`);
  await expect(row).toBeVisible();
  await settle(page);
  await expectAccessible(page, 'recycle bin');
  await row.getByRole('button', { name: `Restore ticket #${ids[0]} Junk ${RUN} 1` }).click();
  await expect(row).toHaveCount(0);
  expect((await readTicket(request, ids[0])).name).toBe(`Junk ${RUN} 1`);
  expect((await api(request, 'GET', `/tickets/${ids[1]}`)).status).toBe(404);
});

test('delete one ticket from split: it leaves the list and waits in the recycle bin', async ({ page, request }) => {
  const ticket = await createTicket(request, { name: `Delete me ${RUN}` });
  await useToken(page);
  await page.goto(`/split/${ticket.id}?q=${encodeURIComponent(`Delete me ${RUN}`)}`);
  await expect(page.locator(`tr.row[data-ticket-id="${ticket.id}"]`)).toBeVisible();
  await page.locator('article.ticket').getByRole('button', { name: 'Delete…' }).click();
  const dialog = page.getByRole('dialog', { name: `Delete ticket #${ticket.id}?` });
  await expectAccessible(page, 'delete dialog');
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(page).toHaveURL(/\/split\?q=/);
  await expect(page.locator(`tr.row[data-ticket-id="${ticket.id}"]`)).toHaveCount(0);
  expect((await api(request, 'GET', `/tickets/${ticket.id}`)).status).toBe(404);
  const bin = await api(request, 'GET', '/recycle-bin?limit=100');
  expect(bin.body.items.map((x: { id: number }) => x.id)).toContain(ticket.id);
});

test('mark a ticket as spam, then not spam from the spam view', async ({ page, request }) => {
  const made = await intake(request, `Cheap pills ${RUN}`, 'Buy now!', 'spammer@example.net');
  await useToken(page);
  const detail = await openSplit(page, made.ticket_id);
  await expect(detail.getByTestId('conversation')).toContainText('Buy now!');
  await detail.getByRole('button', { name: 'Mark as spam…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Mark as spam' });
  await expect(dialog.getByRole('checkbox', { name: new RegExp(`Cheap pills ${RUN}`) })).toBeChecked();
  await expect(dialog).toContainText('the ticket goes to the recycle bin as well');
  await expectAccessible(page, 'spam dialog');
  await dialog.getByRole('button', { name: 'Mark as spam' }).click();
  await expect(page).toHaveURL(/\/split$/);
  expect((await api(request, 'GET', `/tickets/${made.ticket_id}`)).status).toBe(404);

  await page.getByRole('link', { name: 'Spam', exact: true }).click();
  const row = page.locator(`tr[data-thread-id="${made.thread_id}"]`);
  await expect(row).toContainText('spammer@example.net');
  await settle(page);
  await expectAccessible(page, 'spam view');
  await row.getByRole('button', { name: `Not spam: Cheap pills ${RUN}` }).click();
  await expect(row).toHaveCount(0);
  await expect.poll(async () => (await api(request, 'GET', `/tickets/${made.ticket_id}`)).status).toBe(200);
});

test('live: a change made in one browser shows in the other without a reload; the bell counts live', async ({ browser, request }) => {
  test.setTimeout(120_000); // two browsers and ~25 steps: ~25 s quiet, a minute when the 2 cores are busy
  const ticket = await createTicket(request, { name: `Live ${RUN}`, priority: 'low' });
  const watcher = await browser.newContext();
  const editor = await browser.newContext();
  try {
    const w = await watcher.newPage();
    const e = await editor.newPage();
    await useToken(w);
    await useToken(e, AGENT_TOKEN || undefined);
    const streamed = w.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
    await w.goto(`/tickets?q=Live+${RUN}`);
    const row = w.locator(`tr.row[data-ticket-id="${ticket.id}"]`);
    await expect(row.locator('.priority-low')).toBeVisible();
    expect((await streamed).status()).toBe(200);

    const detail = await openSplit(e, ticket.id);
    await detail.getByRole('button', { name: 'Edit Priority: Low' }).click();
    await detail.getByRole('combobox', { name: 'Priority' }).selectOption('urgent');
    await expect(detail.getByRole('button', { name: 'Edit Priority: Urgent' })).toBeVisible();

    // no reload in the watcher: the row changes in place
    await expect(row.locator('.priority-urgent')).toBeVisible({ timeout: 15_000 });

    // split in the watcher follows too
    const splitOpen = w.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
    await w.goto(`/split/${ticket.id}`);
    await expect(w.getByRole('button', { name: 'Edit Priority: Urgent' })).toBeVisible();
    await splitOpen;
    await e.getByRole('button', { name: /Edit Status/ }).click();
    const stages = (await api(request, 'GET', '/pipelines')).body[0].stages as { id: number; label: string }[];
    await detail.getByRole('combobox', { name: 'Status' }).selectOption(String(stages[1].id));
    await expect(w.getByRole('button', { name: `Edit Status: ${stages[1].label}` })).toBeVisible({ timeout: 15_000 });

    // the board: a card another agent moves changes column in place
    const boardStream = w.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
    await w.goto(`/board?q=Live+${RUN}`);
    await expect(w.locator(`section[data-stage-id="${stages[1].id}"] [data-card-id="${ticket.id}"]`)).toBeVisible();
    await boardStream; // changes made before the stream opens are in what the page loaded, not in the stream
    const current = await readTicket(request, ticket.id);
    const moved = await api(request, 'PATCH', `/tickets/${ticket.id}`, { status: stages[2].id }, AGENT_TOKEN || undefined, { 'If-Match': `"${current.version}"` });
    expect(moved.status).toBe(200);
    await expect(w.locator(`section[data-stage-id="${stages[2].id}"] [data-card-id="${ticket.id}"]`)).toBeVisible({ timeout: 15_000 });

    // the bell: a new ticket by another user is a notification for the admin, counted live
    if (AGENT_TOKEN) {
      const before = Number((await api(request, 'GET', '/notifications/unread-count')).body.unread);
      await createTicket(request, { name: `Live bell ${RUN}` }, AGENT_TOKEN);
      await expect(w.getByRole('button', { name: `Notifications, ${before + 1} unread` })).toBeVisible({ timeout: 15_000 });
      // and a list offers a new ticket instead of shifting rows under the pointer
      const splitStream = w.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
      await w.goto(`/split/${ticket.id}`);
      await expect(w.locator('tr.row').first()).toBeVisible();
      await splitStream;
      const arrived = await createTicket(request, { name: `Live list ${RUN}` }, AGENT_TOKEN);
      await w.getByTestId('new-tickets').filter({ hasText: 'Show 1 new ticket' }).click();
      await expect(w.locator(`tr.row[data-ticket-id="${arrived.id}"]`)).toBeVisible();
    }
  } finally {
    await watcher.close();
    await editor.close();
  }
});

test('notification preferences: change one and the digest, saved with PUT', async ({ page, request }) => {
  await useToken(page);
  await page.goto('/tickets');
  await page.getByRole('link', { name: 'Notification settings' }).click();
  await expect(page.getByRole('heading', { name: 'Notification settings', level: 1 })).toBeVisible();
  const box = page.getByRole('checkbox', { name: 'A ticket I follow changed: by email' });
  const was = await box.isChecked();
  await box.setChecked(!was);
  await page.getByRole('combobox', { name: 'Email' }).selectOption('hourly');
  await expectAccessible(page, 'preferences');
  const put = page.waitForRequest((r) => r.url().endsWith('/api/v1/me/notification-preferences') && r.method() === 'PUT');
  await page.getByRole('button', { name: 'Save' }).click();
  expect((await put).postDataJSON()).toEqual({ types: { record_updated: { in_app: expect.any(Boolean), email: !was } }, email_digest: 'hourly' });
  await expect(page.getByRole('status').first()).toContainText('Notification settings saved.');
  const saved = (await api(request, 'GET', '/me/notification-preferences')).body;
  expect(saved.types.record_updated.email).toBe(!was);
  expect(saved.email_digest).toBe('hourly');

  // the workspace's own addresses load directly too (a reload, a bookmark)
  await page.goto('/preferences');
  await expect(page.getByRole('checkbox', { name: 'A ticket I follow changed: by email' })).toBeChecked({ checked: !was });
  for (const [path, heading] of [['/bin', 'Recycle bin'], ['/spam', 'Spam']]) {
    await page.goto(path);
    await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible();
  }
});

test('split: picked messages of an email thread move to a new ticket (an agent with a seat)', async ({ page, request }) => {
  test.skip(!process.env.HELPDESK_SMTP_PORT || !AGENT_TOKEN, 'needs the suite’s SMTP port and the seated agent');
  const first = `split-1-${RUN}@mail.example.com`;
  await sendMail({ from: 'Ola <ola@example.com>', to: 'support@web.test', subject: `Two questions ${RUN}`, body: 'Where is my parcel?', messageId: first });
  await sendMail({
    from: 'Ola <ola@example.com>',
    to: 'support@web.test',
    subject: `Re: Two questions ${RUN}`,
    body: 'And a separate question about my invoice.',
    messageId: `split-2-${RUN}@mail.example.com`,
    inReplyTo: first,
  });
  let ticketId = 0;
  await expect
    .poll(async () => {
      const found = await api(request, 'GET', `/tickets?q=${encodeURIComponent(`Two questions ${RUN}`)}`, undefined, AGENT_TOKEN);
      ticketId = found.body.items[0]?.id ?? 0;
      if (!ticketId) return 0;
      const threads = await api(request, 'GET', `/tickets/${ticketId}/threads`, undefined, AGENT_TOKEN);
      return threads.body.items[0]?.message_count ?? 0;
    }, { timeout: 30_000 })
    .toBe(2);

  await useToken(page, AGENT_TOKEN);
  const detail = await openSplit(page, ticketId);
  const conversation = detail.getByTestId('conversation');
  await expect(conversation.locator('[data-kind="customer"]')).toHaveCount(2);
  await conversation.getByRole('button', { name: 'Split…' }).click();
  const invoice = conversation.locator('[data-kind="customer"]', { hasText: 'invoice' });
  await invoice.getByRole('checkbox').check();
  await conversation.getByRole('button', { name: 'Split 1 message off' }).click();
  const dialog = page.getByRole('dialog', { name: 'Split messages to a new ticket' });
  await dialog.getByLabel('Name of the new ticket').fill(`Invoice question ${RUN}`);
  await expectAccessible(page, 'split dialog');
  await dialog.getByRole('button', { name: 'Split' }).click();
  await expect(page).not.toHaveURL(new RegExp(`/split/${ticketId}$`));
  const created = page.locator('article.ticket');
  await expect(created.locator('#ticket-title')).toContainText(`Invoice question ${RUN}`);
  await expect(created.getByTestId('conversation')).toContainText('separate question about my invoice');
  await expect(created.getByTestId('conversation')).not.toContainText('Where is my parcel?');
  const old = await api(request, 'GET', `/tickets/${ticketId}/threads`, undefined, AGENT_TOKEN);
  expect(old.body.items.flatMap((th: { messages: { text: string }[] }) => th.messages.map((m) => m.text)).join(' ')).not.toContain('invoice');
});

test('move a thread to the conversations inbox: the ticket stays', async ({ page, request }) => {
  const made = await intake(request, `Sales lead ${RUN}`, 'I would like a quote for 40 seats.', 'buyer@example.com');
  await useToken(page);
  const detail = await openSplit(page, made.ticket_id);
  const thread = detail.locator(`[data-thread-id="${made.thread_id}"]`);
  await thread.getByRole('button', { name: 'Move to inbox' }).click();
  const dialog = page.getByRole('dialog', { name: 'Move the thread to the conversations inbox' });
  await dialog.getByLabel('Comment (kept as an internal note)').fill(`For sales ${RUN}`);
  await expectAccessible(page, 'move dialog');
  await dialog.getByRole('button', { name: 'Move to inbox' }).click();
  await expect(page.getByRole('status').first()).toContainText('The thread moved to the conversations inbox.');
  await expect(thread).toHaveCount(0); // the ticket's conversation lists help-desk threads only
  const inbox = await api(request, 'GET', '/inbox?limit=100');
  expect(inbox.body.items.map((th: { id: number }) => th.id)).toContain(made.thread_id);
  expect((await api(request, 'GET', `/tickets/${made.ticket_id}`)).status).toBe(200);
});
