import { defineConfig } from "vite";

// React's JSX through esbuild's automatic runtime: no Babel plugin to install.
// `npm run dev` proxies the API and the socket to a local stack (scripts/dev up, port 8080).
const gateway = process.env.WORKCITY_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      // Mantine marks its modules "use client" (for React Server Components); a client bundle
      // has nothing to do with that, so Rollup's notice about it is noise.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  server: {
    proxy: {
      "/api": gateway,
      "/socket.io": { target: gateway, ws: true },
    },
  },
});
