"""CLI startup cost: whole-process CPU and peak RSS of `triops … --help` and of `triops dora`.

Runs `python -m bot.cli ARGS` as subprocesses (the console script is the same code), each
`--repeat` times, and reports the median CPU (user + system, from the child's rusage) and the
median peak RSS (ru_maxrss), with ratios against `python -c pass` measured in the same run.
Every command and sub-command of the CLI is covered: they are found by walking the app.
`dora --service checkout --json` runs on the demo store, seeded first with `python -m bot.cli
demo` into a temporary TRIOPS_HOME (the demo keeps its store in TRIOPS_HOME/demo).

    python bench/startup.py            # every --help, and dora on the demo store
    python bench/startup.py --repeat 9

Targets (issue "Foundation v2"): every --help ≤ 0.4 s CPU and ≤ 80 MB; dora --json ≤ 1.2 s.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_CPU_S, HELP_RSS_MB, DORA_CPU_S = 0.4, 80.0, 1.2
DEMO_NOW = "2026-11-20T00:00:00+00:00"
# References, to read the figures against: a one-command typer app's --help (plain help, like
# triops), and that plus a pydantic model (every capability module imports pydantic).
TYPER_HELLO = """import typer
app = typer.Typer(rich_markup_mode=None)
@app.command()
def hello(name: str = "you") -> None:
    print(name)
app()
"""
PYDANTIC_MODEL = "from pydantic import BaseModel\nclass A(BaseModel):\n    x: int"


@dataclass
class Figure:
    label: str
    cpu_s: float
    rss_mb: float
    cpu_target: float | None = None
    rss_target: float | None = None

    @property
    def ok(self) -> bool:
        return (self.cpu_target is None or self.cpu_s <= self.cpu_target) and (
            self.rss_target is None or self.rss_mb <= self.rss_target)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of one child process, from its own rusage (wait4)."""
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(label: str, argv: list[str], env: dict[str, str], repeat: int, **targets: float) -> Figure:
    runs = [run_once(argv, env) for _ in range(repeat)]
    return Figure(label, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                  **targets)


WALK = """
import json, typer
from bot.cli import app

def walk(cmd, path):
    yield path
    for name in getattr(cmd, "list_commands", lambda ctx: [])(None):
        yield from walk(cmd.get_command(None, name), [*path, name])

print(json.dumps(list(walk(typer.main.get_command(app), []))))
"""


def command_paths(env: dict[str, str]) -> list[list[str]]:
    """Every command and group of the CLI, found by walking it in a child process: building
    every command imports heavy modules, and a child forked from a big bench process would
    start with the bench's resident memory in its peak RSS."""
    out = subprocess.run([sys.executable, "-c", WALK], env=env, cwd=ROOT, check=True, capture_output=True,
                         text=True)
    return [list(p) for p in json.loads(out.stdout)]


def seed_demo(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--now", DEMO_NOW], env=env, cwd=ROOT,
                   check=True, capture_output=True)


def table(figures: list[Figure], base: Figure) -> str:
    lines = ["| command | CPU s (median) | × `python -c pass` | peak RSS MB | × pass | target | ok |",
             "| --- | ---: | ---: | ---: | ---: | --- | :---: |"]
    for f in figures:
        target = " / ".join(x for x in (f"≤ {f.cpu_target} s" if f.cpu_target else "",
                                        f"≤ {f.rss_target:.0f} MB" if f.rss_target else "") if x)
        lines.append(f"| `{f.label}` | {f.cpu_s:.3f} | {f.cpu_s / base.cpu_s:.1f} | {f.rss_mb:.0f} | "
                     f"{f.rss_mb / base.rss_mb:.1f} | {target or '–'} | {'✓' if f.ok else '✗'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TRIOPS_HOME": home, "PYTHONPATH": str(ROOT)}
        env.pop("TRIOPS_DATABASE_URL", None)
        seed_demo(env)
        base = measure("python -c pass", [sys.executable, "-c", "pass"], env, opts.repeat)
        figures = [base,
                   measure("typer hello --help (reference)", [sys.executable, "-c", TYPER_HELLO, "--help"], env,
                           opts.repeat),
                   measure("typer hello --help + a pydantic model (reference)",
                           [sys.executable, "-c", PYDANTIC_MODEL + "\n" + TYPER_HELLO, "--help"], env, opts.repeat)]
        for path in command_paths(env):
            figures.append(measure(" ".join(["triops", *path, "--help"]),
                                   [sys.executable, "-m", "bot.cli", *path, "--help"], env, opts.repeat,
                                   cpu_target=HELP_CPU_S, rss_target=HELP_RSS_MB))
        demo_env = {**env, "TRIOPS_HOME": str(Path(home) / "demo")}  # the demo keeps its own store
        figures.append(measure("triops dora --service checkout --json",
                               [sys.executable, "-m", "bot.cli", "dora", "--service", "checkout", "--json"],
                               demo_env, opts.repeat, cpu_target=DORA_CPU_S))
    print(table(figures, base))
    missed = [f.label for f in figures if not f.ok]
    if missed:
        print(f"\nmissed: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
