"""Analysis of where people and machines look: human maps from brush points, their reliability,
machine attribution maps, and metrics and statistics that compare them.

Pure functions on numpy arrays where possible; file I/O lives in `clicks` and the CLI
(`python -m analysis ...`). The brush geometry comes from `models.render`, the same module the
game server uses, so a map computed here covers exactly the pixels players revealed.
"""
