"""Every notebook under notebooks/ runs top to bottom on its default (a small model built on the
spot, offline) and is stored with its outputs cleared."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.torch  # notebook 01 compares with transformers


def test_there_are_six_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: outputs must be cleared in the repository"
            )
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    # Progress bars are widgets (ipywidgets), not hundreds of text updates; no tqdm fallback warning.
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "TqdmWarning" not in text and "IProgress not found" not in text, text[-2000:]
    bar_updates = [line for line in text.replace("\r", "\n").splitlines() if "%|" in line]
    assert len(bar_updates) <= 5, bar_updates[:10]
    # Warnings name the notebook's own line, not a library module.
    assert "mluke_jax/" not in "".join(line for line in text.splitlines() if "Warning:" in line), text[-2000:]
