"""Analysis of where people and machines look: human maps from brush points, their reliability,
machine attribution maps, and metrics and statistics that compare them.

Modules, in the order the data flows:

- `clicks`: read and validate a clicks table (exported ``clicks.csv`` or legacy ClickMe data);
- `stimuli`: the drawings the clicks were made on;
- `maps`: human maps (brush footprints counted per round, blurred, normalised) and the same
  preparation for machine maps;
- `reliability`: split-half ceiling, leave-one-out and cross-stimulus floor;
- `brush`: the brush radius the data were collected with (stored settings, else ClickMe's);
- `attribution`: classifier and CFGDM maps with captum;
- `controls`, `baselines`, `matched_sampling`: what a machine map is reported next to (random
  weights, another seed, other methods; centre bias, ink, random, floor; players brushing the
  machine map as much as people did);
- `metrics`, `stats`: feature count, localization, alignment; bootstrap CIs and paired tests;
- `compare`, `plots`, `report`: the whole comparison with figures and an HTML report;
- `simulate`: simulated observers with known agreement (tests and examples, never human data).

Pure functions on numpy arrays where possible; file I/O lives at the edges and in the CLI
(`python -m analysis ...`). The brush geometry comes from `models.render`, the same module the
game server uses, so a map computed here covers exactly the pixels players revealed.
"""
