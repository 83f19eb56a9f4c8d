"""Pure transforms of fpwatch: text in, rows out. No network, disk writes, clock or Prefect here."""

#: Version of the transform logic. Bump it when a change alters output rows, so `reprocess` knows
#: which partitions were made by an older pipeline.
PIPELINE_VERSION = "0.4.2"  # 0.4.2: places once per article, people by apposition, long Arabic names, duty-holding states, more ids (issue 12)
