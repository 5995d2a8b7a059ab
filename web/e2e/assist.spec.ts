// The workspace's assistance controls against the whole help desk: an @mention picked by keyboard
// in a note reaches the mentioned agent as a `mentioned` notification; Move to help desk finds a
// ticket by words and the thread joins it; a seated agent uses a name suggestion (saved with
// If-Match) and inserts a recommended reply from a similar closed ticket; someone without a seat is
// offered neither. axe-core checks each control open.
import { expect, test, type Page } from '@playwright/test';
import { AGENT_TOKEN, api, expectAccessible, failOnCspRefusals, intake, settle, similarTickets, useToken } from './helpers';

const RUN = Date.now().toString(36);

test.describe.configure({ mode: 'serial' });

failOnCspRefusals();

async function openSplit(page: Page, ticketId: number) {
  await page.goto(`/split/${ticketId}`);
  const detail = page.locator(`article.ticket[data-ticket-id="${ticketId}"]`);
  await expect(detail).toBeVisible();
  return detail;
}

test('a note mentions an agent picked with the keyboard; the agent is notified', async ({ page, request }) => {
  test.skip(!AGENT_TOKEN, 'needs the seeded agent');
  const made = await intake(request, `Flickering lights ${RUN}`, 'The lights in the hall flicker all day.');
  await useToken(page);
  const detail = await openSplit(page, made.ticket_id);
  const conversation = detail.getByTestId('conversation');
  await conversation.getByRole('radio', { name: 'Internal note' }).check();
  const note = conversation.getByRole('textbox', { name: /Internal note/ });
  await note.click();
  await note.pressSequentially('Can you look, @ad');
  const list = page.getByRole('listbox', { name: 'People to mention' });
  await expect(list.getByRole('option', { name: /Ada Agent/ })).toBeVisible();
  await expect(note).toHaveAttribute('aria-controls', 'mention-list');
  await settle(page, 200);
  await expectAccessible(page, 'mention list open');
  // the first match is highlighted; arrows move (others may match too): down until Ada is
  const highlighted = list.getByRole('option', { selected: true });
  await expect(highlighted).toHaveCount(1);
  const count = await list.getByRole('option').count();
  for (let i = 0; i < count && !((await highlighted.textContent()) ?? '').includes('Ada Agent'); i++) await note.press('ArrowDown');
  await expect(highlighted).toContainText('Ada Agent');
  await expect(note).toHaveAttribute('aria-activedescendant', (await highlighted.getAttribute('id')) ?? '');
  await note.press('Enter');
  await expect(list).toHaveCount(0);
  await note.pressSequentially(`please ${RUN}`);
  await expect(note).toHaveValue(`Can you look, @Ada Agent please ${RUN}`);
  // Escape closes the list without picking
  await note.pressSequentially(' @ad');
  await expect(list).toBeVisible();
  await note.press('Escape');
  await expect(list).toHaveCount(0);
  for (let i = 0; i < 4; i++) await note.press('Backspace');

  const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/threads/${made.thread_id}/messages`));
  await conversation.getByRole('button', { name: 'Add note' }).click();
  const body = (await posted).postDataJSON() as { kind: string; body: string; mentions: number[] };
  const ada = (await api(request, 'GET', '/me', undefined, AGENT_TOKEN)).body as { id: number };
  expect(body).toMatchObject({ kind: 'note', body: `Can you look, @Ada Agent please ${RUN}`, mentions: [ada.id] });
  await expect(conversation.locator('[data-kind="note"]')).toContainText(`@Ada Agent please ${RUN}`);

  // Ada is told: a `mentioned` notification about the ticket, read through the API as Ada
  await expect
    .poll(async () => {
      const feed = await api(request, 'GET', '/notifications?limit=50', undefined, AGENT_TOKEN);
      return feed.body.items.some((n: { type: string; ticket_id: number }) => n.type === 'mentioned' && n.ticket_id === made.ticket_id);
    }, { timeout: 30_000 })
    .toBe(true);

  // a reply offers no mentions
  await conversation.getByRole('radio', { name: 'Reply' }).check();
  const reply = conversation.getByRole('textbox', { name: /Reply to the customer/ });
  await reply.fill('');
  await reply.pressSequentially('Hi @ad');
  await page.waitForTimeout(200);
  await expect(page.getByRole('listbox', { name: 'People to mention' })).toHaveCount(0);
});

test('Move to help desk finds the ticket by words; the thread joins it', async ({ page, request }) => {
  const target = await intake(request, `Heating broken in Kraków office ${RUN}`, 'No heat since Monday.');
  const stray = await intake(request, `Re: heating ${RUN}`, 'Any news about the heating?', 'piotr@example.com');
  expect((await api(request, 'POST', `/threads/${stray.thread_id}/move`, { to: 'inbox' })).status).toBe(200);

  await useToken(page);
  await page.goto('/inbox');
  const row = page.getByTestId('inbox-table').locator(`tr[data-thread-id="${stray.thread_id}"]`);
  await row.getByRole('button').click();
  await page.locator('#inbox-thread').getByRole('button', { name: 'Move to help desk' }).click();
  const dialog = page.getByRole('dialog', { name: 'Move the thread to the help desk' });
  const picker = dialog.getByRole('combobox', { name: 'Add to ticket (optional)' });
  await picker.pressSequentially(`Kraków office ${RUN}`);
  const option = dialog.getByRole('option', { name: new RegExp(`#${target.ticket_id} Heating broken`) });
  await expect(option).toBeVisible();
  await expect(picker).toHaveAttribute('aria-expanded', 'true');
  await expectAccessible(page, 'ticket picker open');
  await picker.press('ArrowDown');
  await picker.press('Enter');
  await expect(picker).toHaveValue(`#${target.ticket_id}`);
  await expect(dialog).toContainText(`The thread will join #${target.ticket_id}: Heating broken in Kraków office ${RUN}`);
  await dialog.getByRole('button', { name: 'Move to help desk' }).click();

  await expect(page).toHaveURL(new RegExp(`/split/${target.ticket_id}$`));
  const thread = await api(request, 'GET', `/threads/${stray.thread_id}`);
  expect(thread.body).toMatchObject({ location: 'helpdesk', ticket_id: target.ticket_id });
});

test('a seated agent uses a name suggestion and inserts a recommended reply; no seat, neither', async ({ browser, page, request }) => {
  test.setTimeout(120_000);
  test.skip(!AGENT_TOKEN, 'needs the seeded agent with a seat');
  // a closed ticket with a reply, on the same rare subject as the new one
  const { solved, fresh, answer } = await similarTickets(request, RUN);

  // without a seat (the seeded admin has none) neither control is offered
  if (!(await api(request, 'GET', '/me')).body.seat) {
    await useToken(page);
    const unseated = await openSplit(page, fresh.ticket_id);
    await expect(unseated.getByTestId('conversation').locator('[data-kind="customer"]')).toBeVisible();
    await settle(page);
    await expect(unseated.getByRole('button', { name: 'Suggest name' })).toHaveCount(0);
    await expect(unseated.getByRole('button', { name: 'Recommended replies' })).toHaveCount(0);
  }

  const agent = await browser.newContext();
  const agentPage = await agent.newPage();
  await useToken(agentPage, AGENT_TOKEN);
  const detail = await openSplit(agentPage, fresh.ticket_id);
  await expect(detail.getByTestId('conversation').locator('[data-kind="customer"]')).toBeVisible();

  // a name suggestion, used: the ticket is renamed with If-Match
  await detail.getByRole('button', { name: 'Suggest name' }).click();
  const suggestion = detail.getByTestId('suggestion');
  await expect(suggestion.locator('.suggestion-text')).not.toBeEmpty();
  const suggested = ((await suggestion.locator('.suggestion-text').textContent()) ?? '').trim();
  await settle(agentPage, 200);
  await expectAccessible(agentPage, 'name suggestion');
  const patched = agentPage.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/tickets/${fresh.ticket_id}`));
  await suggestion.getByRole('button', { name: 'Use it' }).click();
  const patch = await patched;
  // the version the pane showed when Use it was pressed (a live update may have moved it since opening)
  expect(patch.headers()['if-match']).toMatch(/^"\d+"$/);
  expect((patch.postDataJSON() as { name: string }).name.trim()).toBe(suggested);
  expect((await patch.response())?.status()).toBe(200);
  await expect(detail.locator('#ticket-title')).toContainText(suggested);
  await expect(suggestion).toHaveCount(0);
  expect(((await api(request, 'GET', `/tickets/${fresh.ticket_id}`, undefined, AGENT_TOKEN)).body as { name: string }).name).toBe(suggested);

  // a recommended reply from the closed ticket, inserted into the reply composer
  const open = detail.getByRole('button', { name: 'Recommended replies' });
  await open.click();
  await expect(open).toHaveAttribute('aria-expanded', 'true');
  const recommended = detail.getByTestId('recommended-replies');
  const item = recommended.locator(`li[data-source-ticket="${solved.ticket_id}"]`);
  await expect(item).toContainText(answer);
  await expect(item).toContainText(`From ticket #${solved.ticket_id}`);
  await settle(agentPage, 200);
  await expectAccessible(agentPage, 'recommended replies');
  await item.getByRole('button', { name: /Insert recommended reply/ }).click();
  const composer = detail.getByRole('textbox', { name: /Reply to the customer/ });
  await expect(composer).toHaveValue(answer);
  await expect(composer).toBeFocused();
  await expect(recommended).toHaveCount(0);
  await agent.close();
});
