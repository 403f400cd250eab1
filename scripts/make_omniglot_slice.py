"""Make ``data/omniglot/background_slice.npz``: a small slice of Omniglot's background set for tests.

The critics train on ``images_background_small1/2.zip`` (``../shared/data/omniglot``), which a
fresh clone does not have; the tests run the real training code on this slice instead. It holds
the first 12 characters (sorted by ``alphabet/characterNN``) of ``images_background_small1.zip``,
all 20 drawers each, as `models.omniglot.load_background` returns them (uint8, white on black,
28x28). Omniglot: Lake, Salakhutdinov & Tenenbaum (2015), MIT licence (``data/omniglot/LICENSE``).

    .venv/bin/python scripts/make_omniglot_slice.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from models.critic_data import shared_data  # noqa: E402
from models.omniglot import SHIPPED_BACKGROUND, load_background  # noqa: E402


def main(n_characters: int = 12) -> None:
    chars = load_background([shared_data() / "omniglot" / "images_background_small1.zip"])
    np.savez_compressed(SHIPPED_BACKGROUND, images=chars.images[:n_characters],
                        names=np.asarray(chars.names[:n_characters]))
    print(f"{n_characters} characters x {chars.images.shape[1]} drawers -> {SHIPPED_BACKGROUND}")


if __name__ == "__main__":
    main()
