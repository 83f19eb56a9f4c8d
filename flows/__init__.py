"""Prefect flows and tasks of fpwatch: reading, fetching, writing, scheduling. Wiring only."""

import os

# Prefect defaults for an offline, sometimes busy machine, set before Prefect is imported anywhere
# in fpwatch (a user's own environment wins): no telemetry or analytics heartbeat (they only log
# DNS errors without internet), and time for the ephemeral API server to start under load (its
# default of 20 s is exceeded on 2 busy cores; a fresh PREFECT_HOME alone takes 18-28 s here).
for _name, _value in {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}.items():
    os.environ.setdefault(_name, _value)
