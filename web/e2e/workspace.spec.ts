// The agent's day in the workspace, in Debian's Chromium against the real help desk.
import { expect, test } from '@playwright/test';
import {
  ADMIN_TOKEN,
  AGENT_TOKEN,
  BASE,
  api,
  createTicket,
  expectAccessible,
  percentile,
  pipelines,
  readTicket,
  recordMetric,
  settle,
  useToken,
  failOnCspRefusals,
} from './helpers';

const RUN = Date.now().toString(36);

test.describe.configure({ mode: 'serial' });

failOnCspRefusals();

test('sign in: an invite link sets the password, then email and password sign in and write; sign-out ends it', async ({ page, request, context, browser }) => {
  test.setTimeout(150_000); // two browsers, a set-password page, three sign-ins: slow on a loaded machine
  const wanted = await createTicket(request, { name: `Printer on fire in Kraków ${RUN}`, priority: 'urgent' }, AGENT_TOKEN || ADMIN_TOKEN);
  const me = (await api(request, 'GET', '/me')).body as { id: number; name: string; email: string };

  // an admin (another browser, with the API token) makes the one-time link on Admin -> Users
  const adminContext = await browser.newContext();
  let link: URL;
  try {
    const admin = await adminContext.newPage();
    await useToken(admin);
    await admin.goto('/admin/users');
    await admin.getByRole('button', { name: `Invite link for ${me.name}`, exact: true }).click();
    const field = admin.getByRole('textbox', { name: new RegExp(`Set-password link for ${me.name}, works once`) });
    link = new URL(await field.inputValue());
    await expectAccessible(admin, 'admin users with an invite link');
  } finally {
    await adminContext.close();
  }
  expect(link.pathname).toBe('/set-password');
  expect(link.hash).toMatch(/^#token=hi_/);

  await page.addInitScript(() => localStorage.setItem('helpdesk.lang', 'en'));
  await page.goto(link.pathname + link.hash);
  await expect(page.getByRole('heading', { name: 'Set your password' })).toBeVisible();
  await expectAccessible(page, 'set-password');
  const password = `correct horse ${RUN}`;
  await page.getByLabel('New password').fill(password);
  await page.getByLabel('Repeat the password').fill(password);
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page).toHaveURL(/\/signin$/);
  await expect(page.getByText('Your password is set')).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveValue(me.email);
  await expectAccessible(page, 'sign-in');

  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByText('The email or password is not right.')).toBeVisible();
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/tickets$/);
  let cookies = Object.fromEntries((await context.cookies()).map((c) => [c.name, c]));
  expect(cookies.helpdesk_session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
  expect(cookies.helpdesk_csrf).toMatchObject({ httpOnly: false, sameSite: 'Strict' });
  expect(await page.evaluate(() => document.cookie)).not.toContain('helpdesk_session');

  await expect(page.locator('tr.row').first()).toBeVisible();
  await page.getByRole('searchbox', { name: /Search/ }).fill(`Kraków ${RUN}`);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`q=Krak`));
  const row = page.locator(`tr.row[data-ticket-id="${wanted.id}"]`);
  await expect(row).toBeVisible();
  await expect(page.locator('tr.row')).toHaveCount(1);
  if (AGENT_TOKEN) {
    // created by someone else: unread for the admin, shown in bold
    await expect(row).toHaveClass(/unread/);
    expect(await row.locator('td.col-name').evaluate((el) => getComputedStyle(el).fontWeight)).toBe('700');
  }
  await expectAccessible(page, 'table');

  // a write through the session cookie (PATCH with X-CSRF-Token) persists
  await page.goto(`/split/${wanted.id}`);
  const detail = page.locator(`article.ticket[data-ticket-id="${wanted.id}"]`);
  await detail.getByRole('button', { name: 'Edit Priority: Urgent' }).click();
  await detail.getByRole('combobox', { name: 'Priority' }).selectOption('high');
  await expect(detail.getByRole('button', { name: 'Edit Priority: High' })).toBeVisible();
  await expect.poll(async () => (await readTicket(request, wanted.id, ADMIN_TOKEN)).priority).toBe('high');

  // the password page: a wrong current password changes nothing; the right one changes it, every
  // other session ends and this browser stays signed in with a fresh session cookie
  await page.getByRole('link', { name: 'Password', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Change your password' })).toBeVisible();
  await expectAccessible(page, 'change password');
  const renewed = `battery staple ${RUN}`;
  await page.getByLabel('Current password').fill('not the password');
  await page.getByLabel('New password').fill(renewed);
  await page.getByLabel('Repeat the password').fill(renewed);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toHaveText('That is not your current password.');
  await page.getByLabel('Current password').fill(password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText(/^Your password is changed; \d+ sessions? w/)).toBeVisible();
  const renewedCookies = Object.fromEntries((await context.cookies()).map((c) => [c.name, c]));
  expect(renewedCookies.helpdesk_session.value).not.toBe(cookies.helpdesk_session.value);
  const before = await request.fetch(`${BASE}/api/v1/me`, { headers: { Cookie: `helpdesk_session=${cookies.helpdesk_session.value}` } });
  expect(before.status()).toBe(401);
  cookies = renewedCookies;
  await page.goto(`/split/${wanted.id}`);

  // the cookie outlives a reload; signing out ends the session on the server and in the browser
  await page.reload();
  await expect(detail.getByRole('button', { name: 'Edit Priority: High' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to the help desk' })).toBeVisible();
  expect((await context.cookies()).map((c) => c.name)).not.toContain('helpdesk_session');
  const ended = await request.fetch(`${BASE}/api/v1/me`, { headers: { Cookie: `helpdesk_session=${cookies.helpdesk_session.value}` } });
  expect(ended.status()).toBe(401);

  // API tokens stay a way in (scripts, or a help desk without sessions)
  await page.getByRole('button', { name: 'Use an API token instead' }).click();
  await page.getByLabel('API token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in with token' }).click();
  await expect(page.getByText('Signed in as')).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to the help desk' })).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('helpdesk.auth'))).toBeNull();
});

test('open a ticket in split, edit properties inline, follow, mark unread', async ({ page, request }) => {
  const ticket = await createTicket(request, { name: `Split me ${RUN}`, priority: 'low', description: 'The toner is leaking' });
  await useToken(page);
  await page.goto(`/tickets?q=${encodeURIComponent(`Split me ${RUN}`)}`);
  await page.getByRole('link', { name: `Split me ${RUN}` }).click();
  await expect(page).toHaveURL(new RegExp(`/split/${ticket.id}\\?q=`));
  const detail = page.locator(`article.ticket[data-ticket-id="${ticket.id}"]`);
  await expect(detail.getByText('The toner is leaking')).toBeVisible();

  await detail.getByRole('button', { name: 'Edit Priority: Low' }).click();
  await detail.getByRole('combobox', { name: 'Priority' }).selectOption('high');
  await expect(detail.getByRole('button', { name: 'Edit Priority: High' })).toBeVisible();
  await expect(detail.getByTestId('timeline')).toContainText('changed Priority from Low to High');
  expect((await readTicket(request, ticket.id)).priority).toBe('high');

  await detail.getByRole('button', { name: /Edit Category/ }).click();
  await detail.getByRole('textbox', { name: 'Category' }).fill('Hardware');
  await page.keyboard.press('Enter');
  await expect(detail.getByRole('button', { name: 'Edit Category: Hardware' })).toBeVisible();

  await page.keyboard.press('f');
  await expect(detail.getByRole('button', { name: /Unfollow/ })).toBeVisible();
  await expect(detail.getByTestId('followers')).toContainText('admin');
  await detail.getByRole('button', { name: /Mark unread/ }).click();
  await expect(detail.getByRole('button', { name: /Mark read/ })).toBeVisible();
  await expect(page.locator(`tr.row[data-ticket-id="${ticket.id}"]`)).toHaveClass(/unread/);

  await detail.getByLabel('Record ID').fill('42');
  await detail.getByRole('button', { name: 'Add' }).click();
  await expect(detail.getByRole('button', { name: 'Remove Contacts #42' })).toBeVisible();
  await expectAccessible(page, 'split');
});

test('keyboard: j/k move, Enter opens in split, ? lists the shortcuts', async ({ page, request }) => {
  const a = await createTicket(request, { name: `Keys ${RUN} A` });
  const b = await createTicket(request, { name: `Keys ${RUN} B` });
  await useToken(page);
  await page.goto(`/tickets?q=Keys+${RUN}`);
  await expect(page.locator('tr.row')).toHaveCount(2);
  await page.locator('body').press('j');
  await expect(page.locator(`tr.row.active[data-ticket-id="${b.id}"]`)).toBeVisible();
  await page.locator('body').press('j');
  await expect(page.locator(`tr.row.active[data-ticket-id="${a.id}"]`)).toBeVisible();
  await page.locator('body').press('k');
  await page.locator('body').press('x');
  await expect(page.getByRole('checkbox', { name: `Select ticket #${b.id}` })).toBeChecked();
  await page.locator('body').press('u');
  await expect(page.locator(`tr.row[data-ticket-id="${b.id}"]`)).toHaveClass(/unread/);
  await page.locator('body').press('Enter');
  await expect(page).toHaveURL(new RegExp(`/split/${b.id}`));
  await expect(page.locator(`tr.row.open.active[data-ticket-id="${b.id}"]`)).toBeVisible();
  await page.locator('body').press('j');
  await expect(page).toHaveURL(new RegExp(`/split/${a.id}`));
  await page.locator('body').press('?');
  const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('Next ticket');
  await expectAccessible(page, 'shortcuts dialog');
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await page.locator('body').press('2');
  await expect(page).toHaveURL(/\/board\?q=Keys/);
});

test('filters survive switching layouts; board drag changes status with If-Match', async ({ page, request }) => {
  const [pipeline] = await pipelines(request);
  const [first, second, third] = pipeline.stages;
  const ticket = await createTicket(request, { name: `Drag me ${RUN}`, priority: 'high' });
  await useToken(page);
  await page.goto('/tickets');
  await page.getByRole('combobox', { name: 'Priority' }).selectOption('high');
  await page.getByRole('searchbox', { name: /Search/ }).fill(`Drag me ${RUN}`);
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: /^Board/ }).click();
  await expect(page).toHaveURL(/\/board\?q=Drag.*priority=high/);
  await expect(page.getByRole('combobox', { name: 'Priority' })).toHaveValue('high');

  const card = page.locator(`[data-card-id="${ticket.id}"]`);
  await expect(page.locator(`section[data-stage-id="${first.id}"] [data-card-id="${ticket.id}"]`)).toBeVisible();
  await expectAccessible(page, 'board');

  const timings: number[] = [];
  const route = [second, third, first, second, third, first];
  for (const stage of route) {
    const began = Date.now();
    const saved = page.waitForResponse((r) => r.url().endsWith(`/api/v1/tickets/${ticket.id}`) && r.request().method() === 'PATCH');
    await card.dragTo(page.locator(`section[data-stage-id="${stage.id}"]`));
    const response = await saved;
    expect(response.status()).toBe(200);
    expect(response.request().headers()['if-match']).toMatch(/^"\d+"$/);
    await expect(page.locator(`section[data-stage-id="${stage.id}"] [data-card-id="${ticket.id}"][data-state="saved"]`)).toBeVisible();
    timings.push(Date.now() - began);
  }
  expect((await readTicket(request, ticket.id)).status).toBe(first.id);
  recordMetric('board_drag_to_persisted_ms', { p50: percentile(timings, 50), max: Math.max(...timings), samples: timings });

  // the keyboard way: Shift+→ on the focused card
  await card.getByRole('link').focus();
  await page.keyboard.press('Shift+ArrowRight');
  await expect(page.locator(`section[data-stage-id="${second.id}"] [data-card-id="${ticket.id}"][data-state="saved"]`)).toBeVisible();
  expect((await readTicket(request, ticket.id)).status).toBe(second.id);

  await page.getByRole('link', { name: /^Split/ }).click();
  await expect(page).toHaveURL(/\/split\?q=Drag.*priority=high/);
  await expect(page.locator(`tr.row[data-ticket-id="${ticket.id}"]`)).toBeVisible();
});

test('bulk update sets the priority of the selected tickets', async ({ page, request }) => {
  const ids: number[] = [];
  for (const n of [1, 2, 3]) ids.push((await createTicket(request, { name: `Bulk ${RUN} ${n}`, priority: 'low' })).id);
  await useToken(page);
  await page.goto(`/tickets?q=Bulk+${RUN}`);
  await expect(page.locator('tr.row')).toHaveCount(3);
  const picker = page.locator('details.columns-menu');
  await picker.locator('summary').click();
  await picker.getByRole('checkbox', { name: 'Created' }).check();
  await expect(page.getByRole('columnheader', { name: /^Created/ })).toBeVisible();
  await picker.getByRole('checkbox', { name: 'Source' }).check();
  await expect(page.locator('tr.row td.col-source').first()).toHaveText('API');
  await picker.getByRole('checkbox', { name: 'Source' }).uncheck();
  await picker.getByRole('checkbox', { name: 'Created' }).uncheck();
  await picker.locator('summary').click();
  await page.getByRole('checkbox', { name: 'Select all loaded tickets' }).check();
  const bar = page.getByRole('form', { name: 'Bulk update' });
  await expect(bar).toContainText('3 selected');
  await bar.getByLabel('Set priority').selectOption('urgent');
  await bar.getByLabel('Set owner').selectOption({ label: 'admin' });
  await bar.getByRole('button', { name: 'Apply to selected' }).click();
  await expect(page.getByRole('status')).toContainText('3 tickets updated');
  for (const id of ids) {
    const fresh = await readTicket(request, id);
    expect(fresh.priority).toBe('urgent');
    expect(fresh.owner_id).not.toBeNull();
  }
  await expect(page.locator('tr.row .priority-urgent')).toHaveCount(3);
  await expectAccessible(page, 'table with bulk bar');
});

test('the bell shows the unread feed; Polish can be chosen', async ({ page, request }) => {
  test.skip(!AGENT_TOKEN, 'needs a second user: super admins get a feed item for tickets others create');
  const ticket = await createTicket(request, { name: `Notify me ${RUN}` }, AGENT_TOKEN);
  await useToken(page);
  await page.goto('/tickets');
  const bell = page.getByRole('button', { name: /Notifications, \d+ unread/ });
  await expect(bell).toBeVisible();
  await expect(page.getByTestId('bell-count')).toBeVisible();
  await bell.click();
  const panel = page.getByRole('region', { name: 'Notifications' });
  await expect(panel).toContainText(`New ticket #${ticket.id}`);
  await expectAccessible(page, 'bell');
  await panel.getByRole('button', { name: new RegExp(`New ticket #${ticket.id}\\b`) }).click();
  await expect(page).toHaveURL(new RegExp(`/split/${ticket.id}$`));

  await page.getByRole('combobox', { name: 'Language' }).selectOption('pl');
  await expect(page.getByRole('link', { name: /^Tabela/ })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'pl');
  await expect(page.getByRole('heading', { name: 'Właściwości' })).toBeVisible();
  await expectAccessible(page, 'split in Polish');
  await page.getByRole('combobox', { name: 'Język' }).selectOption('en');
  await expect(page.getByRole('link', { name: /^Table/ })).toBeVisible();
});

test('admin pages: create a team, issue and revoke a token, add a stage; all accessible', async ({ page }) => {
  await useToken(page);
  for (const section of ['users', 'seats', 'teams', 'tokens', 'pipelines']) {
    await page.goto(`/admin/${section}`);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await settle(page);
    await expectAccessible(page, `admin/${section}`);
  }
  await page.goto('/admin/teams');
  const form = page.getByRole('form', { name: 'New team' });
  await form.getByLabel('Team name').fill(`Second line ${RUN}`);
  await form.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('button', { name: `Rename Second line ${RUN}: Second line ${RUN}` })).toBeVisible();

  await page.goto('/admin/tokens');
  const issue = page.getByRole('form', { name: 'Issue a token' });
  await issue.getByLabel('Label').fill(`ci ${RUN}`);
  await issue.getByRole('button', { name: 'Issue a token' }).click();
  await expect(page.locator('.token-value')).toHaveText(/.{16,}/);
  await page.getByRole('button', { name: `Revoke token ci ${RUN}` }).click();
  await expect(page.getByRole('row', { name: new RegExp(`ci ${RUN}.*Revoked`) })).toBeVisible();

  await page.goto('/admin/pipelines');
  const pipelineForm = page.getByRole('form', { name: 'New pipeline' });
  await pipelineForm.getByLabel('Pipeline name').fill(`Returns ${RUN}`);
  await pipelineForm.getByRole('button', { name: 'Create' }).click();
  const card = page.getByRole('region', { name: `Returns ${RUN}` });
  await expect(card).toBeVisible();
  await card.getByLabel('Stage name').fill('Refunded');
  await card.getByLabel('State').selectOption('CLOSED');
  await card.getByRole('button', { name: 'Add stage' }).click();
  await expect(card.getByRole('textbox', { name: 'Rename stage Refunded' })).toBeVisible();
  await card.getByRole('button', { name: 'Move Refunded up' }).click();
  await expect(card.locator('ol.stages li').nth(2).getByRole('textbox')).toHaveValue('Refunded');
});
