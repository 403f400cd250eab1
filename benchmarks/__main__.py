"""``python -m benchmarks [name ...] [--quick]``: run the benchmarks (all by default).

``python -m benchmarks load ...`` and ``python -m benchmarks chaos ...`` start the real server,
``python -m benchmarks batch_cpu ...`` measures the server's CPU per batch in process and
``python -m benchmarks round_start ...`` the cost of a round start as stored rounds grow; they take
their own options (``--help``) and are not part of the default run; so does
``python -m benchmarks confirm_vs_compare`` (the shipped plan's ``confirm`` against ``compare`` on
the real development half, about 20 minutes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys

import torch

BENCHMARKS = ("maps", "attribution", "guessing", "reliability")
#: benchmarks of the game server that parse their own arguments
SERVER_BENCHMARKS = ("load", "chaos", "batch_cpu", "round_start")
#: benchmarks that parse their own arguments: the server's, and the analysis' long real-data run
OWN_ARGUMENTS = SERVER_BENCHMARKS + ("confirm_vs_compare",)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in OWN_ARGUMENTS:
        return importlib.import_module(f"benchmarks.{argv[0]}").main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "device": device,
                      "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                      "cpu_threads": torch.get_num_threads()}))
    results = {}
    for name in args.names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        results[name] = module.main(quick=args.quick, device=device)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
