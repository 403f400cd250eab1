"""Running a notebook of `notebooks/` the way a reader would, on the tests' small settings."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_notebook(name: str) -> tuple[list[dict], str]:
    """Execute ``notebooks/<name>`` with ``DA_NOTEBOOK_QUICK=1``; ``(code outputs, printed text)``.

    Fails the calling test (via the assertion) if any cell raised.
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    os.environ["DA_NOTEBOOK_QUICK"] = "1"
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    finally:
        os.environ.pop("DA_NOTEBOOK_QUICK", None)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs, "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
