"""Pure transforms of fpwatch: text in, rows out. No network, disk writes, clock or Prefect here."""

#: Version of the transform logic. Bump it when a change alters output rows, so `reprocess` knows
#: which partitions were made by an older pipeline.
PIPELINE_VERSION = "0.3.1"  # 0.3.1: mentions.gpe_role, NORP-labelled large cities read as cities (issue 12). 0.3.0: events and tone (issue 10), entities of issue 12 (GeoNames places, layout rules, person merging)
