// Two people, two browsers, one ticket: If-Match keeps the second save from overwriting the first.
import { expect, test } from '@playwright/test';
import { ADMIN_TOKEN, AGENT_TOKEN, createTicket, expectAccessible, pipelines, readTicket, shot, useToken } from './helpers';

const RUN = Date.now().toString(36);

test('an edit made on a stale ticket answers 412 and shows the fresh ticket; nothing is overwritten', async ({ browser, request }) => {
  const [pipeline] = await pipelines(request);
  const ticket = await createTicket(request, { name: `Contested ${RUN}`, priority: 'low' });
  const alice = await browser.newContext();
  const bob = await browser.newContext();
  try {
    const a = await alice.newPage();
    const b = await bob.newPage();
    const aDetail = a.locator('article.ticket');
    const bDetail = b.locator('article.ticket');
    // Alice's live stream is cut (a dropped connection, a proxy that buffers): her view goes stale,
    // which is when If-Match matters; with the stream up she would see Bob's change in place.
    await a.route('**/api/v1/stream', (route) => route.abort());
    await useToken(a, ADMIN_TOKEN);
    await useToken(b, AGENT_TOKEN || ADMIN_TOKEN);
    await a.goto(`/split/${ticket.id}`);
    await b.goto(`/split/${ticket.id}`);
    await expect(a.getByRole('button', { name: 'Edit Priority: Low' })).toBeVisible();
    await expect(b.getByRole('button', { name: 'Edit Priority: Low' })).toBeVisible();

    // Bob saves first
    await b.getByRole('button', { name: 'Edit Priority: Low' }).click();
    await bDetail.getByRole('combobox', { name: 'Priority' }).selectOption('urgent');
    await expect(b.getByRole('button', { name: 'Edit Priority: Urgent' })).toBeVisible();

    // Alice still sees version 1 and changes the status
    const stale = a.waitForResponse((r) => r.url().endsWith(`/api/v1/tickets/${ticket.id}`) && r.request().method() === 'PATCH');
    await a.getByRole('button', { name: /Edit Status/ }).click();
    await aDetail.getByRole('combobox', { name: 'Status' }).selectOption(String(pipeline.stages[1].id));
    expect((await stale).status()).toBe(412);
    const dialog = a.getByRole('dialog', { name: 'Someone else changed this ticket' });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByTestId('conflict-values')).toContainText('Urgent');
    await expect(dialog.getByTestId('conflict-values')).toContainText(pipeline.stages[0].label);
    await expectAccessible(a, 'conflict dialog');
    await shot(a, 'conflict');
    await dialog.getByRole('button', { name: 'Show the current ticket' }).click();
    await expect(dialog).toBeHidden();
    await expect(a.getByRole('button', { name: 'Edit Priority: Urgent' })).toBeVisible();

    const server = await readTicket(request, ticket.id);
    expect(server.priority).toBe('urgent'); // Bob's change stands
    expect(server.status).toBe(pipeline.stages[0].id); // Alice's was not applied

    // the same on the board: Alice drags a card Bob has just moved
    await a.goto(`/board?q=Contested+${RUN}`);
    await b.goto(`/split/${ticket.id}`);
    await expect(a.locator(`section[data-stage-id="${pipeline.stages[0].id}"] [data-card-id="${ticket.id}"]`)).toBeVisible();
    await b.getByRole('button', { name: /Edit Status/ }).click();
    await bDetail.getByRole('combobox', { name: 'Status' }).selectOption(String(pipeline.stages[2].id));
    await expect(b.getByRole('button', { name: `Edit Status: ${pipeline.stages[2].label}` })).toBeVisible();
    const refused = a.waitForResponse((r) => r.url().endsWith(`/api/v1/tickets/${ticket.id}`) && r.request().method() === 'PATCH');
    await a.locator(`[data-card-id="${ticket.id}"]`).dragTo(a.locator(`section[data-stage-id="${pipeline.stages[1].id}"]`));
    expect((await refused).status()).toBe(412);
    await expect(a.getByRole('dialog', { name: 'Someone else changed this ticket' })).toBeVisible();
    await expect(a.locator(`section[data-stage-id="${pipeline.stages[2].id}"] [data-card-id="${ticket.id}"]`)).toBeVisible();
    expect((await readTicket(request, ticket.id)).status).toBe(pipeline.stages[2].id);
  } finally {
    await alice.close();
    await bob.close();
  }
});
