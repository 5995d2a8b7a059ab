"""Latency and throughput of the help desk against its floors: ``python -m bench.run``."""
