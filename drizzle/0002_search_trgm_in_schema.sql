-- The trigram index of 0001, now declared in schema.ts so drizzle-kit agrees with the migrations; a no-op where 0001 ran.
CREATE INDEX IF NOT EXISTS "search_index_content_trgm_idx" ON "search_index" USING gin ("content" gin_trgm_ops);
