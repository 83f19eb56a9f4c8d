"""The flows people and schedules start: run, ingest, backfill, reprocess, compact, and their deployments."""
