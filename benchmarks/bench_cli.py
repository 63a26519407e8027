"""Cold-start time of ``coinfer solve`` against ``python -c "import numpy, scipy"`` (median of 5).

Both run as fresh processes on the same machine in the same run, so their ratio does not depend on
the machine's speed. A ratio near 1 means the command line costs little more than importing numpy
and scipy, which is what a numpy-only core should give (no torch, no transformers).

    python benchmarks/bench_cli.py [--repeats 5]

Prints both medians and their ratio. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_seconds(argv: list[str], repeats: int) -> float:
    """Median wall-clock time in s of running ``argv`` as a new process, ``repeats`` times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (default 5)")
    args = parser.parse_args()
    coinfer = shutil.which("coinfer") or str(
        __import__("pathlib").Path(sys.executable).with_name("coinfer")
    )
    reference = [sys.executable, "-c", "import numpy, scipy"]
    solve = [coinfer, "solve"]
    median_solve_probe = median_seconds(solve, 1)  # warm the file cache for both
    median_seconds(reference, 1)
    t_ref = median_seconds(reference, args.repeats)
    t_solve = median_seconds(solve, args.repeats)
    print(f"python -c 'import numpy, scipy': median {t_ref * 1e3:8.1f} ms")
    print(f"coinfer solve                  : median {t_solve * 1e3:8.1f} ms")
    print(
        f"ratio coinfer solve / import numpy, scipy: {t_solve / t_ref:.2f} "
        f"(median of {args.repeats}; first run {median_solve_probe * 1e3:.0f} ms)"
    )


if __name__ == "__main__":
    main()
