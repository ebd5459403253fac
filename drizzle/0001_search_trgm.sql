-- Substring search (Korean and English) through a trigram index on the search copy.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "search_index_content_trgm_idx" ON "search_index" USING gin ("content" gin_trgm_ops);
