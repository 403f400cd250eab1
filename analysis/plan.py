"""A pre-registered analysis plan: every setting and every claim, read from a TOML file.

`load_plan` reads the file with `tomllib` and checks it completely before anything runs: every
required key present with the right type and range, every claim naming a known source and
metric, with a direction and a unique name. Any problem raises `PlanError` (a `ValueError`: the
CLI prints it and exits 2) naming the file, the key and what was expected. The shipped plan
for the ClickMe-QuickDraw data is `analysis/plans/clickme_quickdraw.toml` (`SHIPPED`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compare import SHAPE_METRICS

SHIPPED = Path(__file__).resolve().parent / "plans" / "clickme_quickdraw.toml"
#: per-stimulus alignment of a source's map with the human map (analysis.alignment)
ALIGNMENT_METRICS = ("rho_raw", "rho_above_floor", "rho_ink_conditional", "rho_partial")
METRICS = SHAPE_METRICS + ALIGNMENT_METRICS
MACHINES = ("cfgdm", "classifier")
BASELINE_SOURCES = ("ink", "centre_bias")
TESTS = ("paired",)
DIRECTIONS = ("less", "greater")
NON_BRUSHING = ("drop", "keep")
BRUSH_SHAPES = ("square", "disc")


class PlanError(ValueError):
    """The plan cannot be used (the message says where and why)."""


def machine_sources(machine: str, matched: bool) -> list[str]:
    """The sources one machine contributes: its map, its random-weights twin, and their matched twins."""
    out = [machine, f"{machine}_random"]
    return out + [f"{s}_matched" for s in out] if matched else out


@dataclass
class Plan:
    path: Path
    raw: dict[str, Any]
    data: dict[str, Any]
    attribution: dict[str, Any]
    statistics: dict[str, Any]
    sensitivity: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    sources: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.raw["name"]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path.name, **self.raw}


#: (key, type(s), check or None, what is expected)
_DATA = [("canvas", int, lambda v: v > 0, "a positive integer"),
         ("brush_shape", str, lambda v: v in BRUSH_SHAPES, f"one of {', '.join(BRUSH_SHAPES)}"),
         ("brush_px", (int, float), lambda v: v > 0, "a positive number (square: side; disc: radius)"),
         ("brush_rule", str, None, "a sentence"),
         ("sigma_px", (int, float), lambda v: v >= 0, "a number >= 0"),
         ("mass", (int, float), lambda v: 0 < v < 1, "a number in (0, 1)"),
         ("min_points_per_round", int, lambda v: v >= 1, "an integer >= 1"),
         ("min_genuine_rounds", int, lambda v: v >= 1, "an integer >= 1"),
         ("reliability_min_rounds", int, lambda v: v >= 2, "an integer >= 2"),
         ("strict", bool, None, "true or false"),
         ("keep_repeats", bool, None, "true or false"),
         ("non_brushing", str, lambda v: v in NON_BRUSHING, f"one of {', '.join(NON_BRUSHING)}"),
         ("non_brushing_rule", str, None, "the rule's name"),
         ("ink_rule", str, None, "the rule's name")]
_ATTRIBUTION = [("model", str, lambda v: v == "cfgdm", "cfgdm"),
                ("weights", str, None, "a folder or \"\" for the shipped weights"),
                ("method", str, lambda v: bool(v), "an attribution method name"),
                ("seeds", list, lambda v: bool(v) and all(isinstance(s, int) for s in v), "a non-empty list of integers"),
                ("random_weights_seed", int, None, "an integer"),
                ("classifier", bool, None, "true or false"),
                ("batch_size", int, lambda v: v >= 1, "an integer >= 1"),
                ("n_steps", int, lambda v: v >= 1, "an integer >= 1"),
                ("nt_samples", int, lambda v: v >= 1, "an integer >= 1"),
                ("nt_stdev", (int, float), lambda v: v >= 0, "a number >= 0"),
                ("occlusion_window", int, lambda v: v >= 1, "an integer >= 1"),
                ("occlusion_stride", int, lambda v: v >= 1, "an integer >= 1"),
                ("timesteps", list, lambda v: bool(v) and all(isinstance(t, (int, float)) and 0 < t < 1 for t in v),
                 "a non-empty list of fractions of T in (0, 1)"),
                ("n_noise", int, lambda v: v >= 1, "an integer >= 1"),
                ("gamma", (int, float), None, "a number"),
                ("sampler", str, lambda v: v in ("ddpm", "ddim"), "ddpm or ddim"),
                ("sampling_steps", int, lambda v: v >= 1, "an integer >= 1"),
                ("segment_length", int, lambda v: v >= 1, "an integer >= 1 (stroke occlusion: skeleton px per piece)")]
_STATISTICS = [("n_boot", int, lambda v: v >= 100, "an integer >= 100"),
               ("seed", int, None, "an integer"),
               ("level", float, lambda v: 0.5 < v < 1, "a number in (0.5, 1)"),
               ("n_splits", int, lambda v: v >= 1, "an integer >= 1"),
               ("matched_sampling", bool, None, "true or false")]
_SENSITIVITY = [("label", str, None, "a label"),
                ("sigma_factor", (int, float), lambda v: v > 0, "a positive number"),
                ("brush_factor", (int, float), lambda v: v > 0, "a positive number (scales the brush size)"),
                ("mass", (int, float), lambda v: 0 < v < 1, "a number in (0, 1)")]
_CLAIM = [("name", str, lambda v: v.isidentifier(), "an identifier (letters, digits, _)"),
          ("metric", str, lambda v: v in METRICS, f"one of {', '.join(METRICS)}"),
          ("a", str, None, "a source"), ("b", str, None, "a source"),
          ("direction", str, lambda v: v in DIRECTIONS, f"one of {', '.join(DIRECTIONS)}"),
          ("test", str, lambda v: v in TESTS, f"one of {', '.join(TESTS)}")]


def _check_table(where: str, table: Any, spec: list) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PlanError(f"{where}: expected a table")
    for key, kind, ok, expected in spec:
        if key not in table:
            raise PlanError(f"{where}: missing key {key!r} ({expected})")
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds) or (ok and not ok(value)):
            raise PlanError(f"{where}.{key} = {value!r}: expected {expected}")
    return table


def validate(raw: dict[str, Any], path: Path) -> Plan:
    """Check a parsed plan; `PlanError` names the first problem."""
    where = path.name
    for key in ("name", "written", "data_set", "written_from"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise PlanError(f"{where}: missing key {key!r} (a string)")
    data = _check_table(f"{where} [data]", raw.get("data"), _DATA)
    attribution = _check_table(f"{where} [attribution]", raw.get("attribution"), _ATTRIBUTION)
    statistics = _check_table(f"{where} [statistics]", raw.get("statistics"), _STATISTICS)
    sensitivity = raw.get("sensitivity", [])
    if not isinstance(sensitivity, list):
        raise PlanError(f"{where}: [[sensitivity]] must be an array of tables")
    for i, row in enumerate(sensitivity):
        _check_table(f"{where} [[sensitivity]] #{i + 1}", row, _SENSITIVITY)
        extra = row.get("min_genuine_rounds", 1)  # optional: judge the claims on a stricter subset
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 1:
            raise PlanError(f"{where} [[sensitivity]] #{i + 1}.min_genuine_rounds = {extra!r}: expected an integer >= 1")
    claims = raw.get("claims")
    if not isinstance(claims, list) or not claims:
        raise PlanError(f"{where}: no [[claims]]")
    sources = ["human", *machine_sources("cfgdm", statistics["matched_sampling"])]
    if attribution["classifier"]:
        sources += machine_sources("classifier", statistics["matched_sampling"])
    sources += list(BASELINE_SOURCES)
    seen = set()
    for i, claim in enumerate(claims):
        label = f"{where} [[claims]] #{i + 1}" + (f" ({claim['name']})" if isinstance(claim, dict) and "name" in claim else "")
        _check_table(label, claim, _CLAIM)
        if claim["name"] in seen:
            raise PlanError(f"{label}: the name {claim['name']!r} is used twice")
        seen.add(claim["name"])
        for side in ("a", "b"):
            if claim[side] not in sources:
                raise PlanError(f"{label}.{side} = {claim[side]!r}: unknown source; this plan has "
                                f"{', '.join(sources)}")
        if claim["a"] == claim["b"]:
            raise PlanError(f"{label}: a and b are the same source")
        if claim["metric"] in ALIGNMENT_METRICS and "human" in (claim["a"], claim["b"]):
            raise PlanError(f"{label}: {claim['metric']} is a source's alignment with the human map; "
                            "the human map has none with itself")
    return Plan(path, raw, data, attribution, statistics, sensitivity, claims, sources)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file (`PlanError` for anything wrong with it)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read the plan ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path.name}: not valid TOML ({exc})") from None
    return validate(raw, path)
