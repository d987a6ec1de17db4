ALTER TABLE "api_tokens" ADD COLUMN "not_before" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "allowed_cidrs" text[];