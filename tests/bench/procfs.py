"""The gunicorn server's footprint from /proc, for the soak: RSS, PSS, open fds and CPU time
summed over the master and its workers, sampled once a second."""
import os
import statistics
import time
from pathlib import Path


def process_tree(pid):
    """The process and its descendants, parent first."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return pids


TICK = os.sysconf("SC_CLK_TCK")


def footprint(pid):
    """(RSS MiB, PSS MiB, open fds, CPU seconds, RSS MiB of each process) summed over the
    gunicorn master and its workers."""
    pss = fds = cpu = 0
    each = []
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            each.append(int(status.split("VmRSS:")[1].split()[0]) / 1024)
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            pss += int(rollup.split("\nPss:")[1].split()[0])
            fds += len(os.listdir(f"/proc/{p}/fd"))
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / TICK  # utime + stime
        except (OSError, IndexError):
            pass  # a worker being replaced
    return sum(each), pss / 1024, fds, cpu, each


def sampler(pid, samples, seconds):
    """One sample a second until `seconds` have passed (the streams' wind-down is not sampled)."""
    started = time.monotonic()
    for second in range(int(seconds) + 1):
        time.sleep(max(0.0, started + second - time.monotonic()))
        samples.append((second, *footprint(pid)))


def fds_flat(samples, since=10):
    """(flat?, min, max, drift): fds from `since` s on, first half's mean against the second's."""
    fds = [s[3] for s in samples if s[0] >= since]
    if len(fds) < 4:
        return False, 0, 0, 0.0
    half = len(fds) // 2
    drift = statistics.mean(fds[half:]) - statistics.mean(fds[:half])
    return drift <= max(8, 0.03 * statistics.mean(fds[:half])), min(fds), max(fds), drift
