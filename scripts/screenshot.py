"""Save docs/screenshot-game.png: the game mid-round, as a player sees it.

Runs the real app (temporary SQLite database, default stimuli, shipped classifier) on a local
port and plays in the system's headless Chromium (never a downloaded browser): consent, brush
part of a drawing's ink, wait for the AI's guess, capture. Only the chosen default drawing is
imported, so the first round shows it and the picture is the same on every run.

    .venv/bin/python scripts/screenshot.py [--key bicycle-017774] [--out docs/screenshot-game.png]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def start_server(tmp: Path, key: str):
    """The app on a fresh database holding one default drawing, served in a thread."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from webapp import create_app
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    # No probability reaches 1.01, so the round stays mid-way however well the AI guesses.
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'shot.sqlite3'}",
                      "SECRET_KEY": "screenshot", "RECOGNITION_MIN_PROB": 1.01,
                      "ROUND_TIMER_MS": 15000})
    with app.app_context():
        upgrade()
        drawings = [d for d in read_drawings(DEFAULT_SET_FILE) if d.key == key]
        if not drawings:
            raise SystemExit(f"no default drawing with key {key!r} (see data/README.md)")
        import_drawings(drawings, app.config["DEFAULT_STIMULUS_SET"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default="bicycle-017774", help="stimulus key in the default set")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot-game.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--fraction", type=float, default=0.15, help="share of the ink to brush")
    args = parser.parse_args()

    import numpy as np
    from playwright.sync_api import sync_playwright

    from tests.browser.gameplay import drag_mouse, ink_path, stimulus

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(Path(tmp), args.key)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 780}, device_scale_factor=1)
            page.goto(f"{url}/consent")
            page.locator("#agree").check()
            page.get_by_test_id("consent-agree").click()
            page.wait_for_function("() => window.__da && window.__da.ready")
            st = stimulus(page)
            path = ink_path(st["gray"])
            drag_mouse(page, path[: max(2, int(len(path) * args.fraction))], st["width"], st["height"])
            page.wait_for_function("() => window.__da.drained() && window.__da.state().guess")
            box = page.get_by_test_id("game-canvas").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.25)
            page.wait_for_timeout(150)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            shown = np.count_nonzero(np.asarray(page.evaluate("window.__da.revealed()")))
            print(f"saved {args.out} ({st['category']}, {page.evaluate('window.__da.pointCount()')} "
                  f"points, {shown} pixels revealed)")
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    main()
