import { defineConfig } from 'drizzle-kit'

// `bun run db:generate` needs no database; `drizzle-kit push`, `check` against a
// live database, and `studio` read DATABASE_URL (postgres://user:password@host/db)
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/chat' },
})
