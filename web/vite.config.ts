// Builds the web UI into web/dist (served by Berth at /). `npx vite --config web/vite.config.ts` runs a dev
// server that forwards /api and /v2 to a Berth at BERTH_URL (default http://127.0.0.1:5000).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const root = fileURLToPath(new URL('.', import.meta.url));
const target = process.env.BERTH_URL ?? 'http://127.0.0.1:5000';

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/api': { target, changeOrigin: false }, '/v2': { target } },
  },
  logLevel: 'warn',
});
