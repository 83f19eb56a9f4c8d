"""Pure transforms of fpwatch: text in, rows out. No network, disk writes, clock or Prefect here."""

#: Version of the transform logic. Bump it when a change alters output rows, so `reprocess` knows
#: which partitions were made by an older pipeline.
PIPELINE_VERSION = "0.4.0"  # 0.4.0: GPE roles, person resolution across batches and runs, more curated people and ids, topic weights (issue 12)
