"""Fixtures shared by the analysis tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def run_notebook() -> Callable[[str], tuple[list, str]]:
    """Execute ``notebooks/<name>`` with ``DA_NOTEBOOK_QUICK=1`` (its small settings); returns the code
    cells' outputs and their printed text, after checking that no cell raised."""
    import nbformat
    from nbclient import NotebookClient

    def run(name: str) -> tuple[list, str]:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        os.environ["DA_NOTEBOOK_QUICK"] = "1"
        try:
            NotebookClient(notebook, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        finally:
            os.environ.pop("DA_NOTEBOOK_QUICK", None)
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"]
        return outputs, "".join(o.get("text", "") for o in outputs if o.output_type == "stream")

    return run
