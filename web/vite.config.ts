/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The gateway serves dist/: index.html (no-cache) and dist/assets/* (hashed, immutable) under a
// CSP of 'self' only, so nothing may be inlined: no inline script, style or module preload polyfill.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` talks to a gateway on HELPDESK_GATEWAY (default http://127.0.0.1:8000).
    proxy: { '/api': process.env.HELPDESK_GATEWAY ?? 'http://127.0.0.1:8000' },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
