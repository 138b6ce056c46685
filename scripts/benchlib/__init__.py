"""Helpers of scripts/bench.py, the benchmark of lakepass against a sequential boto3
baseline at simulated network latency: the emulator (moto), a latency-injecting,
call-counting proxy, the catalogs to seed, and the baseline script. Stdlib + boto3 only."""
