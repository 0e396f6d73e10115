"""Sample a Berth process tree with py-spy while a benchmark step runs (optional).

    BENCH_PROFILE=/tmp/prof python -m bench --only density

writes <dir>/<name>.txt (py-spy's "raw" collapsed stacks: one line per stack and its
sample count) for each profiled step; `python -m bench.pyspy FILE` summarises one.
Without BENCH_PROFILE, or without py-spy (the dev extra installs it) or ptrace
permission, nothing is sampled and the step runs as usual.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType


class PySpy:
    """`with PySpy("rollout", pid):` samples pid and its children while the block runs."""

    def __init__(self, name: str, pid: int, rate: int = 100) -> None:
        self.name, self.pid, self.rate = name, pid, rate
        self.proc: subprocess.Popen[bytes] | None = None
        self.out: Path | None = None

    def __enter__(self) -> PySpy:
        where, exe = os.environ.get("BENCH_PROFILE"), shutil.which("py-spy")
        venv = Path(sys.executable).with_name("py-spy")
        exe = str(venv) if venv.exists() else exe
        if not where or not exe:
            return self
        Path(where).mkdir(parents=True, exist_ok=True)
        self.out = Path(where) / f"{self.name}.txt"
        self.proc = subprocess.Popen(
            [exe, "record", "--subprocesses", "--nonblocking", "-r", str(self.rate),
             "-f", "raw", "-o", str(self.out), "-p", str(self.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def summary(path: Path, top: int = 40, match: str = "") -> str:
    """Inclusive share of samples per function (frames merged across line numbers)."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}
        for f in frames:
            inclusive[f] += n
    lines = [f"{path.name}: {total} samples"]
    for frame, n in inclusive.most_common():
        if match in frame:
            lines.append(f"{n / max(total, 1) * 100:5.1f}%  {frame}")
            if len(lines) > top:
                break
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]), match=sys.argv[2] if len(sys.argv) > 2 else ""))
