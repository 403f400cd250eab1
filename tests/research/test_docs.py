"""The docs a newcomer follows (issue 21, item 8, and the researcher row "README `flask --app wsgi`
commands fail unless the venv is active"): a short README, commands with the virtualenv's own
programs that really run, a codebook page equal to the code's codebook, the completion rule in
the same words as the server's, and links between pages that resolve."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: the pages this issue owns; the link check covers every page
OWN_PAGES = [REPO / "README.md", DOCS / "run-a-study.md", DOCS / "data.md", DOCS / "design.md"]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def _commands(text: str) -> list[str]:
    """Commands of the page's bash blocks, continuation lines joined, comments dropped."""
    out = []
    for block in _bash_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda p: p.name)
def test_every_command_uses_the_virtualenvs_programs(page: Path) -> None:
    """A bare `flask` (or `python`) is whichever is first on PATH: on one machine another Flask
    answered `No such command 'users'`."""
    text = page.read_text()
    for command in _commands(text):
        first = command.split()[0]
        assert first in {"make", "export", "unzip", "cd"} or first.startswith(".venv/bin/"), (page.name, command)
    bare = re.findall(r"(?<![/\w])(flask --app|python -m)\b", text)
    assert bare == [], (page.name, bare)


def test_the_readme_is_short_and_points_everyone_somewhere() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 60
    assert "make play" in text and "make test" in text and "screenshot-game.png" in text
    for page in ("run-a-study", "hosting", "data", "analyse", "notebooks", "design", "security",
                 "load", "models-and-studies", "results"):
        assert f"docs/{page}.md" in text, page


def test_the_codebook_page_equals_the_codebook() -> None:
    from webapp.research.codebook import COLUMNS, docs_section

    text = (DOCS / "data.md").read_text()
    assert docs_section() in text
    for file, columns in COLUMNS.items():
        for column, _, _ in columns:
            assert f"| `{column}` |" in text, (file, column)


def test_the_completion_rule_is_stated_in_the_servers_words(app) -> None:
    from webapp.study_nav import completion_rule

    with app.app_context():
        rule = completion_rule()
    assert rule in (DOCS / "run-a-study.md").read_text()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_links_between_pages_resolve() -> None:
    pages = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append((page.name, target))
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append((page.name, target))
    assert broken == []


def test_the_run_a_study_commands_run_as_written(app, shipped_classifier, tmp_path, monkeypatch) -> None:
    """Every `.venv/bin/flask --app wsgi ...` line of docs/run-a-study.md's steps, in order, on a
    fresh database with the default set (the password typed twice at the prompt)."""
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app.extensions["classifier"] = shipped_classifier
    app.config["PUBLIC_URL"] = "https://draw.example.org"
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "run-a-study.md").read_text().split("## Reference")[0]
    flask = [c for c in _commands(text) if c.startswith(".venv/bin/flask --app wsgi ")]
    assert len(flask) >= 5
    runner = app.test_cli_runner()
    for command in flask:
        args = shlex.split(command)[3:]
        result = runner.invoke(args=args, input="a long enough passphrase 42\n" * 2)
        assert result.exit_code == 0, (command, result.output)
    assert "participant link: https://draw.example.org/study/pilot?PROLIFIC_PID=" in runner.invoke(
        args=["studies", "edit", "pilot"]).output
    assert {p.name for p in tmp_path.iterdir()} >= {"pilot.zip", "clicks.csv", "rounds.csv"}
