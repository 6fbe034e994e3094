"""`python -m bench`: the mock's speed beside its peers (Prism, WireMock, Mockoon) and the machine's
ceiling, in one run.

Measures, one server at a time on loopback: stop throughput and latency (wrk) of the mock as users
start it and with --quiet, beside each peer; a realistic mix of stops; stop-to-stream-end with many
open streams, seeded ones and default agent answers sent over the API; start-up, RSS and list
latency at 100,000 chats; the contract suite's time; and stop throughput and latency on a Redis
store with 1, 2, 4 workers beside the in-memory process; then prints one table with ratios.
Benchmarks print numbers; nothing here asserts a time.
"""
