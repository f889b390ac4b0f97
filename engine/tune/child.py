"""The training child process: `python -m engine.tune.child --config RUN/config.json [--resume]`.

`engram tune` and the desktop app both start training this way; events go to stdout as JSON lines.
The exit status is 0 when the run finished or was stopped, 1 when it failed."""

from __future__ import annotations

import argparse
import os
import sys

from engine.tune.config import TuneConfig
from engine.tune.run import run_tuning


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.tune.child")
    parser.add_argument("--config", required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(5)  # yield the CPU to the window that started us: training waits, the UI does not
    try:
        config = TuneConfig.load(args.config)
    except (OSError, ValueError) as error:
        print(f'{{"event": "failed", "kind": "error", "reason": "bad run config: {error}"}}'.replace("\\", "/"),
              flush=True)
        return 1
    result = run_tuning(config, resume=args.resume)
    return 0 if result["status"] in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
