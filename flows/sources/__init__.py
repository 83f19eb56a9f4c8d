"""Where documents come from: local files, and the web (polite, SSRF-safe fetching)."""
