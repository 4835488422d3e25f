"""dvc.yaml's code deps are the stages' real imports: a library module a stage uses but does not list would
leave results that `dvc status` calls up to date after a change; one it lists but does not use reruns it
for nothing. Imports inside functions count (a lazy import is still a dependency)."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

LIB = ROOT / "src" / "pawprint"
# Modules that cannot change a result, so no stage lists them: params parsing, the MLflow run and its Lightning
# logger, where files live and how they are written, progress lines, the error type. The one list of them.
INFRASTRUCTURE = {"config.py", "tracking.py", "run_logger.py", "paths.py", "progress.py", "errors.py"}


def module_file(name: str) -> Path | None:
    path = LIB.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def imports(path: Path) -> set[Path]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return {f for name in names if name.startswith("pawprint.") and (f := module_file(name))}


def closure(script: Path) -> set[str]:
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for module in imports(todo.pop()) - seen:
            seen.add(module)
            todo.append(module)
    return {p.relative_to(LIB).as_posix() for p in seen} - INFRASTRUCTURE


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", list(STAGES))
def test_code_deps_are_the_stage_scripts_imports(name):
    stage = STAGES[name].get("do", STAGES[name])
    script = stage["cmd"].split()[1]
    listed = {d.removeprefix("${lib}/") for d in stage["deps"] if d.startswith("${lib}/")}
    assert script in stage["deps"]
    assert listed == closure(ROOT / script), f"dvc.yaml {name}: ${{lib}} deps differ from what {script} imports"
    assert not listed & INFRASTRUCTURE


def test_the_closure_follows_lazy_and_package_imports(tmp_path):
    """The check itself: a function-level import and `from pawprint.data import x` are both found."""
    script = tmp_path / "stage.py"
    script.write_text("def run():\n    from pawprint.data import cache\n    import pawprint.metrics\n")
    assert closure(script) == {"data/cache.py", "metrics.py"}
