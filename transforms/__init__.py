"""Pure transforms of fpwatch: text in, rows out. No network, disk writes, clock or Prefect here."""

#: Version of the transform logic. Bump it when a change alters output rows, so `reprocess` knows
#: which partitions were made by an older pipeline.
PIPELINE_VERSION = "0.4.1"  # 0.4.1: Congress ids, span typing rules, "<leader> regime" as the government, abbreviations in brackets, more ids (issue 12)
