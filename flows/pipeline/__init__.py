"""The one pipeline every job runs: chunks of documents in, one commit per chunk; run bookkeeping and reports."""
