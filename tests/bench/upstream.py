"""The fake provider as a process of its own, for benchmarks: prints its base URL, answers
"connections" on stdin with the number of TCP connections accepted, stops when stdin closes.
`python -m tests.bench.upstream [--drip-interval 0.1] [--drip-count 7]`"""
import argparse
import sys

from tests.fake_provider import FakeProvider


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Model "drip" streams its role chunk, drip_count pieces, a stop chunk, a usage chunk (when
    # asked, as the vault does) and [DONE], each frame drip_interval after the previous one:
    # 7 pieces 0.1 s apart make a one-second stream.
    parser.add_argument("--drip-interval", type=float, help="seconds between the frames of model 'drip'")
    parser.add_argument("--drip-count", type=int, help="pieces model 'drip' sends")
    args = parser.parse_args()
    fake = FakeProvider()
    if args.drip_interval is not None:
        fake.drip_interval = args.drip_interval
    if args.drip_count is not None:
        fake.drip_count = args.drip_count
    fake.start()
    print(fake.openai_base, flush=True)
    for line in sys.stdin:
        if line.strip() == "connections":
            print(fake.connections, flush=True)
    fake.stop()


if __name__ == "__main__":
    main()
