"""Every widget a notebook builds is driven by the browser tests (tests/browser), so none goes untested."""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _built_widgets(notebook: Path) -> int:
    """How many widgets (``d2lx.widgets.<name>(...)`` calls) the notebook's code cells build; the pure
    ``draw_...`` functions beside them draw a static figure and are not counted."""
    count = 0
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            func = node.func if isinstance(node, ast.Call) else None
            if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)
                    and func.value.attr == "widgets" and isinstance(func.value.value, ast.Name)
                    and func.value.value.id == "d2lx" and not func.attr.startswith("draw_")):
                count += 1
    return count


def test_every_notebook_widget_has_a_browser_test():
    tree = ast.parse((ROOT / "tests/browser/test_widgets_in_browser.py").read_text())
    listed = next(ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "WIDGETS")
    tested = Counter(name for name, _, _ in listed)
    built = {nb.name: _built_widgets(nb) for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    assert {k: v for k, v in built.items() if v} == dict(tested), \
        "add each new widget to WIDGETS in tests/browser/test_widgets_in_browser.py"
