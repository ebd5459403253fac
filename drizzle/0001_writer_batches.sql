CREATE TABLE "writer_batches" (
	"id" text PRIMARY KEY NOT NULL,
	"outcome" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "writer_batches_created_idx" ON "writer_batches" USING btree ("created_at");