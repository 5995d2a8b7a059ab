// Mail arriving while an agent works, and the conversations inbox: a customer's email sent to the
// suite's SMTP port shows up in an open workspace without a reload (a new ticket is offered in the
// table; a follow-up lands in the open conversation), and a thread in the inbox is opened from the
// inbox page and moved to the help desk, where it becomes a ticket.
import { expect, test } from '@playwright/test';
import { api, expectAccessible, intake, sendMail, settle, useToken, failOnCspRefusals } from './helpers';

const RUN = Date.now().toString(36);

test.describe.configure({ mode: 'serial' });

failOnCspRefusals();

test('a customer email shows up live in an open workspace, and so does their follow-up', async ({ page, request }) => {
  test.skip(!process.env.HELPDESK_SMTP_PORT, 'HELPDESK_SMTP_PORT names the suite’s inbound SMTP port');
  test.setTimeout(120_000);
  await useToken(page);
  const streamed = page.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
  await page.goto('/tickets');
  await expect(page.locator('tr.row').first()).toBeVisible();
  expect((await streamed).status()).toBe(200);

  const subject = `Parcel never came ${RUN}`;
  const first = `live-1-${RUN}@mail.example.com`;
  await sendMail({ from: 'Ewa <ewa@example.com>', to: 'support@web.test', subject, body: 'I ordered a lamp two weeks ago.', messageId: first });

  // no reload: the table offers the new ticket, and showing it lists it
  const offer = page.getByTestId('new-tickets');
  await expect(offer).toBeVisible({ timeout: 30_000 });
  await offer.click();
  const row = page.locator('tr.row', { hasText: subject });
  await expect(row).toBeVisible();
  const ticketId = Number(await row.getAttribute('data-ticket-id'));
  expect(ticketId).toBeGreaterThan(0);

  // the admin follows it; the customer's follow-up reaches the open conversation without a reload
  expect((await api(request, 'PUT', `/tickets/${ticketId}/follow`)).status).toBe(200);
  const splitStream = page.waitForResponse((r) => r.url().endsWith('/api/v1/stream'));
  await page.goto(`/split/${ticketId}`);
  const conversation = page.locator(`article.ticket[data-ticket-id="${ticketId}"]`).getByTestId('conversation');
  await expect(conversation.locator('[data-kind="customer"]')).toContainText('I ordered a lamp two weeks ago.');
  await splitStream;
  await sendMail({
    from: 'Ewa <ewa@example.com>',
    to: 'support@web.test',
    subject: `Re: ${subject}`,
    body: `It is the blue lamp, order ${RUN}.`,
    messageId: `live-2-${RUN}@mail.example.com`,
    inReplyTo: first,
  });
  await expect(conversation.locator('[data-kind="customer"]', { hasText: `blue lamp, order ${RUN}` })).toBeVisible({ timeout: 30_000 });
  await expect(conversation.locator('[data-kind="customer"]')).toHaveCount(2);
});

test('the inbox page: page through it, open a thread by keyboard, move it to the help desk', async ({ page, request }) => {
  const subject = `Partnership offer ${RUN}`;
  const made = await intake(request, subject, `We resell lamps in Gdańsk ${RUN}.`, 'partner@example.com');
  const moved = await api(request, 'POST', `/threads/${made.thread_id}/move`, { to: 'inbox' });
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);

  await useToken(page);
  await page.goto('/tickets');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Inbox' }).click();
  await expect(page).toHaveURL(/\/inbox$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Conversations inbox' })).toBeVisible();
  const table = page.getByTestId('inbox-table');
  // newest activity first: the thread just moved is on the first page, at the top
  const row = table.locator(`tr[data-thread-id="${made.thread_id}"]`);
  await expect(row).toBeVisible();
  await settle(page);
  await expectAccessible(page, 'inbox');

  // j moves to the first thread, o opens it
  await page.locator('body').press('j');
  await expect(table.locator('button.open-thread').first()).toBeFocused();
  await page.locator('body').press('o');
  const opened = page.locator('#inbox-thread');
  await expect(opened).toHaveAttribute('data-thread-id', String(made.thread_id));
  await expect(opened).toContainText(`We resell lamps in Gdańsk ${RUN}.`);

  await opened.getByRole('button', { name: 'Move to help desk' }).click();
  const dialog = page.getByRole('dialog', { name: 'Move the thread to the help desk' });
  await dialog.getByLabel('Add to ticket (optional)').fill('not a number');
  await dialog.getByRole('button', { name: 'Move to help desk' }).click();
  await expect(dialog.getByRole('alert')).toContainText('type its number');
  await dialog.getByLabel('Add to ticket (optional)').fill('');
  await dialog.getByLabel('Comment (kept as an internal note)').fill(`For partnerships ${RUN}`);
  await expectAccessible(page, 'move to help desk dialog');
  await dialog.getByRole('button', { name: 'Move to help desk' }).click();

  // a new ticket with the thread: the split layout opens on it
  await expect(page).toHaveURL(/\/split\/\d+$/);
  const ticketId = Number(/\/split\/(\d+)$/.exec(page.url())?.[1]);
  const conversation = page.locator(`article.ticket[data-ticket-id="${ticketId}"]`).getByTestId('conversation');
  await expect(conversation.locator(`[data-thread-id="${made.thread_id}"]`)).toContainText(`We resell lamps in Gdańsk ${RUN}.`);
  const thread = await api(request, 'GET', `/threads/${made.thread_id}`);
  expect(thread.body).toMatchObject({ location: 'helpdesk', ticket_id: ticketId });
  const inbox = await api(request, 'GET', '/inbox?limit=100');
  expect(inbox.body.items.map((th: { id: number }) => th.id)).not.toContain(made.thread_id);
});
