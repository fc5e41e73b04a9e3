import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// Served by Galley at /admin from the committed dist/ (embedded in the binary). `npm run dev`
// proxies the API to a local `galley serve`.
export default defineConfig({
  base: '/admin/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Reproducible: the committed build must equal a fresh one byte for byte.
    sourcemap: false,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { '/v1': 'http://127.0.0.1:8080', '/media': 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
