import { defineConfig } from 'drizzle-kit';

// Only `drizzle-kit generate` is used: migrations are applied by `flowradar migrate`
// (the programmatic migrator), because drizzle-kit cannot load the TimescaleDB extension.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
});
