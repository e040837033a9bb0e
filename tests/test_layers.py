"""facedge's layers import one way: every import statement of the installed package
(those inside functions too) is checked against the table in README.md ("Layers"),
so the picture there is the contract and cannot drift from the code.

A module belongs to the longest layer name that prefixes it; a layer may import
itself, the layers its row names, and everything those may import in turn. No
module imports a command-line module (`*cli`): only the dispatcher facedge.cli
reaches them, by name (and `python -m facedge` reaches the dispatcher)."""

import ast
import re
from pathlib import Path

import facedge

PACKAGE = Path(facedge.__file__).resolve().parent
README = Path(__file__).resolve().parent.parent / "README.md"


def layer_table():
    """{layer: set of layers it names} from the README's table."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- layers -->", 2)[1]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`facedge"):
            rows[cells[0].strip("`")] = set(re.findall(r"`(facedge[\w.]*)`", cells[2]))
    return rows


def allowed_closure(rows):
    allowed = {}

    def walk(layer, seen):
        for dep in rows.get(layer, ()):
            if dep not in seen:
                seen.add(dep)
                walk(dep, seen)
        return seen

    for layer in rows:
        allowed[layer] = walk(layer, {layer})
    return allowed


FRONT = ("facedge", "facedge.cli", "facedge.__main__")  # the only modules of the layer named `facedge`


def layer_of(module, rows):
    if module in FRONT:
        return "facedge"
    best = None
    for layer in rows:
        if layer != "facedge" and (module == layer or module.startswith(layer + ".")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def module_name(path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.is_dir() or any(path.parent.glob(path.name + ".*"))


def imports_of(path, module):
    """(line, imported module) for every facedge import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from facedge.bench import wider` imports the submodule facedge.bench.wider;
            # `from facedge import Detector` an attribute of facedge
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
    return [(line, name) for line, name in found if name == "facedge" or name.startswith("facedge.")]


def python_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_readme_table_names_every_package():
    rows = layer_table()
    assert "facedge.base" in rows and rows["facedge.base"] == set(), rows.get("facedge.base")
    for layer, deps in rows.items():
        assert deps <= set(rows), f"{layer} names layers the table lacks: {sorted(deps - set(rows))}"
    unplaced = [module_name(p) for p in python_files() if layer_of(module_name(p), rows) is None]
    assert unplaced == [], f"modules in no layer of README.md's table: {unplaced}"


def test_imports_point_down_the_layers():
    rows = layer_table()
    allowed = allowed_closure(rows)
    wrong = []
    for path in python_files():
        module = module_name(path)
        mine = layer_of(module, rows)
        for line, name in imports_of(path, module):
            target = layer_of(name, rows)
            if target is not None and target not in allowed[mine]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {name} ({target})")
    assert wrong == [], "imports against the layers of README.md:\n" + "\n".join(wrong)


def test_nothing_imports_a_command_line_module():
    wrong = []
    for path in python_files():
        module = module_name(path)
        if module == "facedge.cli":
            continue
        for line, name in imports_of(path, module):
            if module == "facedge.__main__" and name == "facedge.cli":
                continue  # `python -m facedge` is the dispatcher
            if name.rpartition(".")[2].endswith("cli") and name != module:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {name}")
    assert wrong == [], "only facedge.cli may import a command-line module:\n" + "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The walk itself: an upward import, one inside a function, and a CLI import are found."""
    rows = {"facedge.base": set(), "facedge.runtime": {"facedge.base"}}
    src = tmp_path / "m.py"
    src.write_text("import os\n\ndef f():\n    from facedge.runtime.detector import Detector\n    from facedge.bench.wider import cli\n")
    found = [name for _, name in imports_of(src, "facedge.base.m")]
    assert found == ["facedge.runtime.detector", "facedge.bench.wider.cli"]
    assert layer_of("facedge.runtime.detector", rows) == "facedge.runtime"
    assert "facedge.runtime" not in allowed_closure(rows)["facedge.base"]
