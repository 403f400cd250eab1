"""Rewrite the codebook tables of docs/data.md from the code the exports are written with.

    .venv/bin/python scripts/write_codebook_docs.py [docs/data.md]

The tables sit between the two ``<!-- codebook: ... -->`` lines of the page;
`tests/research/test_docs.py` fails when they differ from `webapp.research.codebook.COLUMNS`.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from webapp.research.codebook import write_docs  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    for target in (argv if argv is not None else sys.argv[1:]) or [str(REPO / "docs" / "data.md")]:
        print(f"{target}: {'rewritten' if write_docs(target) else 'already up to date'}")


if __name__ == "__main__":
    main()
