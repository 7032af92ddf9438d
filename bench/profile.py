"""Sample the stack's Python processes with py-spy while a benchmark runs, and print where their
time goes (own time and inclusive time per function).

    uv run python bench/profile.py --run-dir .dev/bench --seconds 15 conversations realtime-1 secantus

Start it while `bench/run.py` drives load (another terminal). py-spy comes from PyPI: on PATH, or
run through `uvx py-spy`. The collapsed stacks are kept in bench/out/ for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sampling import StackProcesses, cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent


def python_pid(stack: StackProcesses, name: str) -> int:
    """The busiest process of a group: the interpreter, not the `uv run` that started it."""
    pids = stack.pids()[name]
    if not pids:
        raise SystemExit(f"{name}: no running process")
    return max(pids, key=cpu_seconds)


def py_spy() -> list[str]:
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx")
    if uvx:
        return [uvx, "py-spy"]
    raise SystemExit("py-spy not found: `uv tool install py-spy`, or install uv for uvx")


def summarize(collapsed: Path, top: int) -> str:
    """Own and inclusive sample counts per frame from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/profile.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="+", help="process names from the stack (conversations, ...)"
    )
    parser.add_argument("--run-dir", type=Path, default=Path(".dev"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR / "out")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 300:
        parser.error("--seconds must be within 1..300")
    stack = StackProcesses.from_run_dir(args.run_dir.resolve())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for name in args.names:
        out = args.out_dir / f"profile-{stamp}-{name}.txt"
        argv = [
            *py_spy(),
            "record",
            "--pid",
            str(python_pid(stack, name)),
            "--duration",
            str(args.seconds),
            "--rate",
            str(args.rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ]
        runs.append((name, out, subprocess.Popen(argv, stdout=subprocess.DEVNULL)))
    for name, out, process in runs:
        process.wait(timeout=args.seconds + 60)
        print(f"\n=== {name} ({out})")
        print(summarize(out, args.top) if out.exists() else "py-spy wrote nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
