// Seat features in the browser: a saved view (save, apply across layouts, rename, delete) and an
// SLA policy (create, see it on a ticket, edit, delete), with axe-core on each screen.
import { expect, test, type Page } from '@playwright/test';
import { api, createTicket, expectAccessible, failOnCspRefusals, settle, useToken } from './helpers';

failOnCspRefusals();

const RUN = Date.now().toString(36);

async function openViewsMenu(page: Page) {
  const panel = page.getByRole('group', { name: 'Saved views' });
  if (!(await panel.isVisible())) await page.getByTestId('views-menu').click();
  await expect(panel).toBeVisible();
  return panel;
}

test('save the current view, apply it in every layout, rename it and delete it', async ({ page, request }) => {
  const tag = `vw${RUN}`;
  await createTicket(request, { name: `Projector ${tag} flickers`, priority: 'urgent' });
  await createTicket(request, { name: `Projector ${tag} cable`, priority: 'low' });
  await useToken(page);

  await page.goto(`/tickets?q=${tag}&priority=urgent`);
  await expect(page.locator('tr.row')).toHaveCount(1);
  await page.locator('.columns-menu summary').click();
  await page.getByRole('checkbox', { name: 'Owner', exact: true }).uncheck();
  await page.locator('.columns-menu summary').click();

  const panel = await openViewsMenu(page);
  await expectAccessible(page, 'saved views menu');
  // Escape closes the menu and leaves focus on it; Enter opens it again
  await page.keyboard.press('Escape');
  await expect(panel).toBeHidden();
  await expect(page.getByTestId('views-menu')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(panel).toBeVisible();
  await panel.getByRole('button', { name: 'Save current view as…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('View name', { exact: true }).fill(`Urgent ${tag}`);
  await dialog.getByRole('radio', { name: 'Everyone' }).check();
  await expectAccessible(page, 'save view dialog');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/tickets\?view_id=\d+$/);
  const viewId = Number(new URL(page.url()).searchParams.get('view_id'));
  const stored = await api(request, 'GET', `/views/${viewId}`);
  expect(stored.body).toMatchObject({ name: `Urgent ${tag}`, shared_with: 'everyone', filters: { q: tag, priority: 'urgent' } });
  expect(stored.body.columns).not.toContain('owner_id');
  await expect(page.getByTestId('views-menu')).toHaveText(`Saved views: Urgent ${tag}`);

  // apply it on a clean table: the list comes from ?view_id=, the filter bar shows the view's filters
  await page.goto('/tickets');
  await page.getByTestId('views-menu').click();
  await page.getByRole('button', { name: `Urgent ${tag}`, exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/tickets\\?view_id=${viewId}$`));
  await expect(page.locator('tr.row')).toHaveCount(1);
  await expect(page.locator('tr.row').first()).toContainText(`Projector ${tag} flickers`);
  await expect(page.getByRole('combobox', { name: 'Priority' })).toHaveValue('urgent');
  await expect(page.locator('th.col-owner')).toHaveCount(0);
  await settle(page);
  await expectAccessible(page, 'table with a saved view');

  // a filter set on top wins and the view stays applied; the board keeps both
  await page.getByRole('combobox', { name: 'Priority' }).selectOption('low');
  await expect(page).toHaveURL(new RegExp(`view_id=${viewId}&priority=low$`));
  await expect(page.locator('tr.row')).toHaveCount(1);
  await expect(page.locator('tr.row').first()).toContainText(`Projector ${tag} cable`);
  await page.getByRole('link', { name: /^Board/ }).click();
  await expect(page).toHaveURL(new RegExp(`/board\\?view_id=${viewId}&priority=low$`));
  await expect(page.locator('[data-card-id]')).toHaveCount(1);
  await page.getByRole('link', { name: /^Table/ }).click();
  await expect(page.locator('tr.row').first()).toContainText(`Projector ${tag} cable`);

  // rename it
  await openViewsMenu(page);
  await page.getByRole('button', { name: `Edit view Urgent ${tag}` }).click();
  await dialog.getByLabel('View name', { exact: true }).fill(`Hot ${tag}`);
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId('views-menu')).toHaveText(`Saved views: Hot ${tag}`);
  expect((await api(request, 'GET', `/views/${viewId}`)).body.name).toBe(`Hot ${tag}`);

  // delete it: the table leaves it
  await openViewsMenu(page);
  await page.getByRole('button', { name: `Delete view Hot ${tag}` }).click();
  await expectAccessible(page, 'delete view dialog');
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(page).toHaveURL(/\/tickets$/);
  expect((await api(request, 'GET', `/views/${viewId}`)).status).toBe(404);
  await openViewsMenu(page);
  await expect(page.getByRole('button', { name: `Hot ${tag}`, exact: true })).toHaveCount(0);
});

test('create an SLA policy, see it on a ticket, edit it and delete it', async ({ page, request }) => {
  const name = `Urgent SLA ${RUN}`;
  const ticket = await createTicket(request, { name: `Server room ${RUN} is hot`, priority: 'urgent' });
  await useToken(page);
  await page.goto('/admin/sla');
  await expect(page.getByRole('heading', { name: 'SLA policies', level: 1 })).toBeVisible();

  const form = page.getByRole('form', { name: 'New SLA policy' });
  // nothing set: the form says what is missing instead of sending it
  await form.getByRole('button', { name: 'Create' }).click();
  await expect(form.getByText('Give the policy a name.')).toBeVisible();
  await expect(form.getByText('Set at least one goal.')).toBeVisible();

  await form.getByLabel('Policy name', { exact: true }).fill(name);
  await form.getByRole('combobox', { name: 'Priority' }).selectOption('urgent');
  await form.getByLabel('First reply', { exact: true }).fill('60');
  await form.getByLabel('Close', { exact: true }).fill('2880');
  await form.getByRole('radio', { name: 'Business hours only' }).check();
  await form.getByLabel('Time zone', { exact: true }).fill('Europe/Warsaw');
  await form.getByLabel('Opening hours', { exact: true }).fill('mon-fri 09:00-17:00');
  await form.getByLabel('Holidays', { exact: true }).fill('2026-12-25 2026-12-26');
  await form.getByRole('checkbox', { name: 'Waiting on contact' }).first().check();
  await expectAccessible(page, 'SLA policy form');
  await form.getByRole('button', { name: 'Create' }).click();

  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('First reply: 1 h');
  await expect(row).toContainText('Close: 48 h');
  await expect(row).toContainText('Europe/Warsaw: mon-fri 09:00-17:00');
  await expect(row).toContainText('Waiting on contact');
  const policyId = Number(await row.getAttribute('data-policy-id'));
  const stored = await api(request, 'GET', `/sla-policies/${policyId}`);
  expect(stored.body).toMatchObject({
    name,
    priority: 'urgent',
    first_reply_minutes: 60,
    next_reply_minutes: null,
    close_minutes: 2880,
    business_hours: { timezone: 'Europe/Warsaw', holidays: ['2026-12-25', '2026-12-26'] },
  });
  expect(stored.body.business_hours.weekly).toHaveLength(5);
  await expectAccessible(page, 'SLA policies');

  // the open urgent ticket's clocks follow the new policy; its sidebar shows them
  await expect
    .poll(async () => (await api(request, 'GET', `/tickets/${ticket.id}`)).body.sla?.policy_id, { timeout: 20_000 })
    .toBe(policyId);
  // the table's SLA column and filter (seat holders)
  await page.goto(`/tickets?q=${encodeURIComponent(`Server room ${RUN}`)}&sort=sla_due_at`);
  await page.locator('.columns-menu summary').click();
  await page.getByRole('checkbox', { name: 'SLA', exact: true }).check();
  await page.locator('.columns-menu summary').click();
  await expect(page.locator(`tr[data-ticket-id="${ticket.id}"] td.col-sla .badge`)).toBeVisible();
  const state = (await api(request, 'GET', `/tickets/${ticket.id}`)).body.sla.state as string;
  const other = state === 'met' ? 'breached' : 'met';
  await page.getByRole('combobox', { name: 'SLA' }).selectOption(other);
  await expect(page).toHaveURL(new RegExp(`sla_state=${other}`));
  await expect(page.locator(`tr[data-ticket-id="${ticket.id}"]`)).toHaveCount(0);
  await page.getByRole('combobox', { name: 'SLA' }).selectOption(state);
  await expect(page.locator(`tr[data-ticket-id="${ticket.id}"]`)).toHaveCount(1);

  await page.goto(`/split/${ticket.id}`);
  const sla = page.getByTestId('ticket-sla');
  await expect(sla).toContainText('First reply:');
  await expect(sla).toContainText('Close:');
  await settle(page);
  await expectAccessible(page, 'ticket with an SLA');

  // edit: a shorter first reply, around the clock
  await page.goto('/admin/sla');
  await row.getByRole('button', { name: `Edit SLA policy ${name}` }).click();
  const edit = page.getByRole('form', { name: `Edit SLA policy ${name}` });
  await expect(edit.getByLabel('Opening hours', { exact: true })).toHaveValue('mon-fri 09:00-17:00');
  await edit.getByLabel('First reply', { exact: true }).fill('30');
  await edit.getByRole('radio', { name: 'Around the clock (24/7)' }).check();
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(row).toContainText('First reply: 30 min');
  await expect(row).toContainText('Around the clock (24/7)');
  expect((await api(request, 'GET', `/sla-policies/${policyId}`)).body).toMatchObject({ first_reply_minutes: 30, business_hours: null });

  // delete
  await row.getByRole('button', { name: `Delete SLA policy ${name}` }).click();
  await expectAccessible(page, 'delete SLA policy dialog');
  await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(row).toHaveCount(0);
  expect((await api(request, 'GET', `/sla-policies/${policyId}`)).status).toBe(404);
});

test('without a seat neither saved views nor SLA policies are offered', async ({ page, request }) => {
  const made = await api(request, 'POST', '/users', {
    name: `No Seat ${RUN}`,
    email: `noseat-${RUN}@example.com`,
    permissions: ['service_access'],
    access_level: 'everything',
    seat: false,
  });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  const token = (await api(request, 'POST', `/users/${made.body.id}/tokens`, { label: 'no seat' })).body.token as string;
  await useToken(page, token);
  await page.goto('/tickets');
  await expect(page.locator('tr.row').first()).toBeVisible();
  await settle(page);
  await expect(page.getByTestId('views-menu')).toHaveCount(0);
  await expect(page.getByRole('combobox', { name: 'SLA' })).toHaveCount(0);
  await page.locator('.columns-menu summary').click();
  await expect(page.getByRole('checkbox', { name: 'SLA', exact: true })).toHaveCount(0);
  await page.goto('/admin/users');
  await expect(page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'SLA policies' })).toHaveCount(0);
  await page.goto('/admin/sla');
  await expect(page.getByText('SLA policies need a service seat')).toBeVisible();
  await expectAccessible(page, 'SLA page without a seat');
});
