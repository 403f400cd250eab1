"""Save the README's screenshots: the game mid-round on a desktop (docs/screenshot-game.png) and
on a phone (docs/screenshot-phone.png), and the study-creation page (docs/screenshot-study-form.png).

Runs the real app (temporary SQLite database, default stimuli, shipped classifier) on a local
port and plays in the system's headless Chromium (never a downloaded browser): consent, brush
part of a drawing's ink, wait for the AI's guess, capture. For the game shots only the chosen
default drawing is imported, so the first round shows it and the picture is the same on every
run; the study form is shown filled in as for a pilot, with its projected rounds.

    .venv/bin/python scripts/screenshot.py [--shot game|phone|study-form|all] [--key bicycle-017774]
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


def start_server(tmp: Path, key: str | None):
    """The app on a fresh database holding one default drawing (all of them when ``key`` is
    None), served in a thread."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from webapp import create_app
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    # The default rules (the guess panel states them); brushing 15% of the default drawing's
    # ink leaves the classifier unsure (checked below), so the round is caught mid-way.
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'shot.sqlite3'}",
                      "SECRET_KEY": "screenshot", "ROUND_TIMER_MS": 15000})
    with app.app_context():
        upgrade()
        drawings = [d for d in read_drawings(DEFAULT_SET_FILE) if key is None or d.key == key]
        if not drawings:
            raise SystemExit(f"no default drawing with key {key!r} (see data/README.md)")
        import_drawings(drawings, app.config["DEFAULT_STIMULUS_SET"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


SHOTS = {"game": "screenshot-game.png", "phone": "screenshot-phone.png",
         "study-form": "screenshot-study-form.png"}


def shoot_game(browser, url: str, out: Path, fraction: float, phone: bool) -> None:
    """Consent, brush ``fraction`` of the drawing's ink, wait for the guess, capture."""
    import numpy as np

    from tests.browser.gameplay import drag_mouse, ink_path, stimulus

    if phone:  # an iPhone-13-sized touch screen
        context = browser.new_context(viewport={"width": 390, "height": 664}, device_scale_factor=2,
                                      has_touch=True, is_mobile=True)
    else:
        context = browser.new_context(viewport={"width": 1200, "height": 780}, device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{url}/consent")
    page.locator("#agree").check()
    page.get_by_test_id("consent-agree").click()
    page.wait_for_function("() => window.__da && window.__da.ready")
    st = stimulus(page)
    path = ink_path(st["gray"])
    drag_mouse(page, path[: max(2, int(len(path) * fraction))], st["width"], st["height"])
    page.wait_for_function("() => window.__da.drained() && window.__da.state().guess")
    if page.evaluate("window.__da.state().status") != "active":
        raise SystemExit("the AI recognised the drawing already: brush less (--fraction)")
    if phone:  # a finger leaves no hover ring
        page.mouse.move(1, 1)
    else:
        box = page.get_by_test_id("game-canvas").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.25)
    page.wait_for_timeout(150)
    page.screenshot(path=str(out))
    shown = np.count_nonzero(np.asarray(page.evaluate("window.__da.revealed()")))
    print(f"saved {out} ({st['category']}, {page.evaluate('window.__da.pointCount()')} "
          f"points, {shown} pixels revealed)")
    context.close()


def shoot_study_form(browser, app, url: str, out: Path) -> None:
    """A researcher fills in a pilot study: the form shows the rounds it will need."""
    import secrets

    from webapp.research.auth import create_researcher

    password = secrets.token_urlsafe(16)
    with app.app_context():
        create_researcher("screenshot", password)
    context = browser.new_context(viewport={"width": 1200, "height": 1100}, device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{url}/research/login")
    page.fill("input[name=username]", "screenshot")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.goto(f"{url}/research/studies/new")
    page.fill("input[name=slug]", "pilot")
    page.fill("input[name=name]", "Pilot: where do people look?")
    page.check("input[name=sets]")
    page.select_option("select[name=mode]", "prolific")
    page.fill("input[name=completion_url]", "https://app.prolific.com/submissions/complete?cc=XXXX")
    page.fill("input[name=n_stimuli]", "34")
    page.fill("input[name=target_rounds_per_stimulus]", "12")
    page.fill("input[name=rounds_per_participant]", "24")
    page.screenshot(path=str(out), full_page=True)
    print(f"saved {out} ({page.get_by_test_id('projection').inner_text()})")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shot", choices=[*SHOTS, "all"], default="all")
    parser.add_argument("--key", default="bicycle-017774", help="stimulus key in the default set")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--fraction", type=float, default=0.15, help="share of the ink to brush")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    shots = list(SHOTS) if args.shot == "all" else [args.shot]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for shot in shots:
            with tempfile.TemporaryDirectory() as tmp:
                server, url = start_server(Path(tmp), None if shot == "study-form" else args.key)
                out = args.out_dir / SHOTS[shot]
                if shot == "study-form":
                    shoot_study_form(browser, server.app, url, out)
                else:
                    shoot_game(browser, url, out, args.fraction, phone=shot == "phone")
                server.shutdown()
        browser.close()


if __name__ == "__main__":
    main()
