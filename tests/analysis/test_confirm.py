"""``python -m analysis confirm``: the shipped plan, bad plans, and an end-to-end run on a few real drawings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.compare import SHAPE_METRICS
from analysis.brush import Brush
from analysis.plan import ALIGNMENT_METRICS, SHIPPED, PlanError, load_plan

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "clickme_quickdraw"
CLAIM_KEYS = {"name", "estimate", "ci", "p", "holds", "n_stimuli"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def override(text: str, **values: str) -> str:
    """The plan's text with ``key = value`` lines replaced (the first line of each key)."""
    for key, value in values.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, key
    return text


def test_the_shipped_plan_loads_and_every_claim_names_a_known_metric_and_source() -> None:
    plan = load_plan(SHIPPED)
    assert plan.data["canvas"] == 256 and plan.data["brush_px"] == 14 and plan.data["brush_shape"] == "square" and plan.data["non_brushing"] == "drop"
    assert plan.attribution["random_weights_seed"] and plan.attribution["seeds"]
    names = [c["name"] for c in plan.claims]
    assert len(names) == len(set(names)) >= 10
    for claim in plan.claims:
        assert claim["metric"] in SHAPE_METRICS + ALIGNMENT_METRICS
        assert claim["a"] in plan.sources and claim["b"] in plan.sources
        assert claim["direction"] in ("less", "greater")
    # the paper's two claims, each against people and against the random-weights twin, matched too
    for name in ("humans_fewer_features_than_cfgdm", "humans_more_localized_than_cfgdm",
                 "humans_fewer_features_than_cfgdm_matched", "cfgdm_fewer_features_than_random_twin",
                 "cfgdm_more_localized_than_random_twin", "cfgdm_beats_random_twin_ink_conditional",
                 "cfgdm_beats_ink", "cfgdm_beats_centre_bias"):
        assert name in names
    assert {s["label"] for s in plan.sensitivity} >= {"σ ×0.5", "σ ×2", "brush ×0.5", "brush ×2", "p = 0.3", "p = 0.8"}


@pytest.mark.parametrize(("change", "message"), [
    ({"canvas": "-3"}, "canvas = -3: expected a positive integer"),
    ({"mass": "1.5"}, "mass = 1.5"),
    ({"non_brushing": '"maybe"'}, "non_brushing = 'maybe': expected one of drop, keep"),
    ({"metric": '"beauty"'}, "metric = 'beauty'"),
    ({"b": '"oracle"'}, "unknown source"),
    ({"direction": '"sideways"'}, "direction"),
    ({"seeds": "[]"}, "seeds"),
])
def test_a_bad_plan_is_refused_with_its_key(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(override(SHIPPED.read_text(), **change))
    with pytest.raises(PlanError, match=re.escape(message)):
        load_plan(path)


def test_duplicate_claims_missing_keys_and_broken_toml_are_refused(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    first = text[text.index("[[claims]]"):text.index("[[claims]]", text.index("[[claims]]") + 1)]
    cases = {"twice.toml": (text + "\n" + first, "used twice"),
             "missing.toml": (text.replace("n_boot = 2000\n", ""), "missing key 'n_boot'"),
             "broken.toml": (text + "\n[data\n", "not valid TOML"),
             "human_alignment.toml": (text + '\n[[claims]]\nname = "x"\nmetric = "rho_raw"\na = "human"\nb = "cfgdm"\n'
                                      'direction = "less"\ntest = "paired"\n', "the human map has none with itself")}
    for name, (body, message) in cases.items():
        (tmp_path / name).write_text(body)
        with pytest.raises(PlanError, match=re.escape(message)):
            load_plan(tmp_path / name)
    with pytest.raises(PlanError, match="no such plan"):
        load_plan(tmp_path / "absent.toml")


def test_the_cli_exits_2_with_a_message_on_a_bad_plan(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(override(SHIPPED.read_text(), sigma_px='"wide"'))
    done = run_cli("confirm", "--plan", str(path), "--clicks", "x.csv", "--stimuli", "x", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "sigma_px = 'wide'" in done.stderr
    assert not (tmp_path / "o").exists()


def test_the_square_brush_reveals_the_games_14_px_square_once_per_round() -> None:
    brush = Brush("square", 14)
    prints = brush.footprints([np.array([[100.0, 50.0]]), np.array([[100.0, 50.0], [101.0, 50.0]])], 256, 256)
    rows, cols = np.nonzero(prints[0])
    assert prints[0].sum() == 196 and (rows.min(), rows.max(), cols.min(), cols.max()) == (43, 56, 93, 106)
    assert prints[1].sum() == 14 * 15  # a second point one pixel right adds one column
    counts = brush.human_map([np.array([[100.0, 50.0]])] * 3, 256, 256, 0)
    assert np.isclose(counts.sum(), 1) and np.count_nonzero(counts) == 196
    assert brush.reach == 7 and Brush("disc", 14).reach == 14 and brush.scaled(2).side == 28


def test_a_machine_map_gets_the_human_maps_geometry() -> None:
    # one unit of mass at a pixel, spread by the brush, equals one human point at its centre (both blurred)
    point = np.zeros((64, 64))
    point[30, 20] = 1.0
    for brush in (Brush("square", 15), Brush("disc", 14)):
        human = brush.human_map([np.array([[20.5, 30.5]])], 64, 64, 2.0)
        assert np.abs(brush.spread(point, 2.0) - human).max() < 1e-6
    # an even side has no centre pixel: the spread square sits within half a pixel of the point's
    rows, cols = np.indices((64, 64))
    spread = Brush("square", 14).spread(point, 0)
    assert (spread > 1e-9).sum() == 196  # (the FFT leaves ~1e-19 elsewhere)
    assert abs((spread * cols).sum() - 20.5) <= 0.5 and abs((spread * rows).sum() - 30.5) <= 0.5


def test_reliability_is_one_for_identical_rounds_and_the_floor_lower() -> None:
    brush = Brush("square", 14)
    rng = np.random.default_rng(0)
    spots = {f"s{i}": rng.uniform(20, 236, size=(6, 2)) for i in range(4)}
    rounds = {name: [spot + rng.normal(0, 0.01, spot.shape) for _ in range(4)] for name, spot in spots.items()}
    table = brush.reliability(rounds, 256, 256, 4.0, 5, 0)
    assert np.allclose(table["split_half"], 1.0, atol=1e-3) and (table["floor"] < 0.9).all()


@pytest.fixture(scope="module")
def tiny_cfgdm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.cfgdm import OneShotCFGDM, small_unet

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cfgdm")
    OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=100).save_pretrained(folder, meta={"steps": 10})
    return folder


def test_confirm_runs_end_to_end_on_a_few_real_drawings(tmp_path: Path, tiny_cfgdm_dir: Path) -> None:
    pytest.importorskip("analysis.ink")
    pytest.importorskip("analysis.alignment")
    from analysis.attribution import CFGDM_METHODS

    if load_plan(SHIPPED).attribution["method"] not in CFGDM_METHODS:
        pytest.importorskip("analysis.method_search")  # the method search's own candidates
    if not (DATA / "clicks.csv").exists():
        pytest.skip("the development half is not in data/clickme_quickdraw")
    clicks = pd.read_csv(DATA / "clicks.csv")
    # six drawings of three categories whose rounds include long (genuine) ones
    long_rounds = clicks.groupby(["stimulus", "round"]).size()
    keep = sorted(long_rounds[long_rounds > 10].index.get_level_values(0).unique())
    by_category = clicks[clicks.stimulus.isin(keep)].drop_duplicates("stimulus").groupby("category")["stimulus"]
    chosen = [s for _, group in list(by_category)[:3] for s in list(group)[:2]]
    clicks[clicks.stimulus.isin(chosen)].to_csv(tmp_path / "clicks.csv", index=False)
    plan = override(SHIPPED.read_text(), weights=f'"{tiny_cfgdm_dir}"', n_boot="200", n_splits="5", n_steps="2",
                    sampling_steps="4", timesteps="[0.5]")
    (tmp_path / "plan.toml").write_text(plan)
    done = run_cli("confirm", "--plan", str(tmp_path / "plan.toml"), "--clicks", str(tmp_path / "clicks.csv"),
                   "--stimuli", str(DATA / "images"), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "confirm.json").read_text())
    assert record["n_stimuli"] >= 4 and record["data_check"]["points_read"] > 0
    assert "non_brushing_rounds" in record["data_check"]
    assert [c["name"] for c in record["claims"]] == [c["name"] for c in load_plan(SHIPPED).claims]
    for claim in record["claims"]:
        assert CLAIM_KEYS <= set(claim) and len(claim["ci"]) == 2 and isinstance(claim["holds"], bool)
        assert claim["n_stimuli"] <= record["n_stimuli"]
    assert {row["setting"] for row in record["sensitivity"]} >= {"σ ×2", "p = 0.8"}
    assert (tmp_path / "out" / "fig5.png").exists() and (tmp_path / "out" / "per_stimulus.csv").exists()
    assert "humans_fewer_features_than_cfgdm" in (tmp_path / "out" / "report.html").read_text()
    assert "humans_fewer_features_than_cfgdm" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1])["n_stimuli"] == record["n_stimuli"]


def test_the_notebook_leads_with_the_real_data_section() -> None:
    """The notebook's first section reads confirm's outputs (the shipped development-half run) and
    runs in seconds; executed here on its own (the whole notebook runs in test_compare)."""
    import nbformat
    from nbclient import NotebookClient

    if not (REPO / "docs" / "clickme_quickdraw" / "confirm.json").exists():
        pytest.skip("the development-half run is not shipped in docs/clickme_quickdraw yet")
    notebook = nbformat.read(REPO / "notebooks" / "compare_humans_machines.ipynb", as_version=4)
    first = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown" and c.source.startswith("## 2."))
    assert "Real data" in notebook.cells[0].source and "NOT human data" in notebook.cells[first].source
    notebook.cells = notebook.cells[:first]
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "REAL data" in text and "humans_fewer_features_than_cfgdm recomputed" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1


def test_the_docs_claims_table_is_the_shipped_confirm_run() -> None:
    """docs/analyse.md's claims table must be what `confirm` wrote on the development half
    (docs/clickme_quickdraw/confirm.json): every claim, its estimate, CI, verdict and n."""
    record = REPO / "docs" / "clickme_quickdraw" / "confirm.json"
    if not record.exists():
        pytest.skip("the development-half run is not shipped in docs/clickme_quickdraw yet")
    claims = {c["name"]: c for c in json.loads(record.read_text())["claims"]}
    rows = {}
    for line in (REPO / "docs" / "analyse.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].strip("`") in claims:
            rows[cells[0].strip("`")] = cells
    assert set(rows) == set(claims)
    numbers = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
    for name, cells in rows.items():
        claim = claims[name]
        estimate, lo, hi = (float(v) for v in numbers.findall(cells[3]))
        assert estimate == pytest.approx(claim["estimate"], abs=5e-4 + 5e-3 * abs(claim["estimate"]))
        assert [lo, hi] == pytest.approx(claim["ci"], abs=5e-4 + 5e-3 * max(map(abs, claim["ci"])))
        verdict = "holds" if claim["holds"] else "reversed" if claim["reversed"] else "not shown"
        assert cells[5].strip("*") == verdict
        assert int(cells[6]) == claim["n_stimuli"]
