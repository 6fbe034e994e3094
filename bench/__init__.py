"""`python -m bench`: the mock's speed beside Prism and the machine's ceiling, in one run.

Measures, one server at a time on loopback: stop throughput and latency (wrk), a realistic mix of
stops, stop-to-stream-end with many open streams, start-up, RSS and list latency at 100,000 chats,
and the contract suite's time; then prints one table with ratios. Benchmarks print numbers; nothing
here asserts a time.
"""
