// Screenshots of each layout for the docs: runs only when HELPDESK_SCREENSHOTS_DIR is set
// (e.g. HELPDESK_SCREENSHOTS_DIR=../docs/screenshots npx playwright test screenshots).
import { expect, test } from '@playwright/test';
import { SHOTS, settle, shot, useToken } from './helpers';

test.skip(!SHOTS, 'HELPDESK_SCREENSHOTS_DIR is not set');

test('screenshots of the sign-in page, table, board, split and admin pages', async ({ page }) => {
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

  await page.goto('/tickets');
  await page.locator('tr.row').first().getByRole('link').click();
  await expect(page.locator('article.ticket')).toBeVisible();
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

  for (const section of ['users', 'pipelines']) {
    await page.goto(`/admin/${section}`);
    await settle(page);
    await shot(page, `admin-${section}`);
  }
});
