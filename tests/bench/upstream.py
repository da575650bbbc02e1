"""The fake provider as a process of its own, for benchmarks: prints its base URL, answers
"connections" on stdin with the number of TCP connections accepted, stops when stdin closes.
`python -m tests.bench.upstream`"""
import sys

from tests.fake_provider import FakeProvider

if __name__ == "__main__":
    fake = FakeProvider().start()
    print(fake.openai_base, flush=True)
    for line in sys.stdin:
        if line.strip() == "connections":
            print(fake.connections, flush=True)
    fake.stop()
