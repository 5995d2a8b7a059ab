// Browser tests against a running help desk: HELPDESK_BASE_URL and HELPDESK_TOKEN (an admin's API
// token) name it; tests/e2e/test_web_workspace.py starts one, seeds it and runs `npx playwright test`.
// Debian's Chromium (/usr/bin/chromium, or HELPDESK_CHROMIUM) is driven; no browser is downloaded.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './e2e',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: process.env.HELPDESK_BASE_URL,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1400, height: 860 },
    locale: 'en-GB',
    timezoneId: 'Europe/Warsaw',
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.HELPDESK_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
