"""The layout rules of docs/architecture.md, checked on the source (not on behaviour):
no import cycles, only steps/ calls backward()/zero_grad()/optimizer.step(), and the
Trainer imports nothing from the doctor."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ganforge"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """ganforge modules ``path`` imports, at any depth (a function-level import is still a
    dependency), except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = node.module or ""
            target = f"{base}.{target}".strip(".") if node.level else target
            for alias in node.names:   # `from . import diagnostics` names a module
                full = f"{target}.{alias.name}"
                found.add(full if (PACKAGE.parent / (full.replace(".", "/") + ".py")).exists()
                          else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "ganforge" or m.startswith("ganforge.")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_import_cycles():
    deps = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(deps[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(deps):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_only_the_steps_call_backward_zero_grad_and_step():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("steps/") or rel.startswith("metrics/train_classifier"):
            continue   # the update steps; and the feature classifier's own training
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("backward", "zero_grad") \
                    or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "step"
                        and ast.unparse(node.func.value).split(".")[-1].startswith("opt")):
                offenders.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []


def test_the_trainer_imports_nothing_from_the_doctor():
    deps = graph()
    seen, todo = set(), ["ganforge.trainer"]
    while todo:   # everything the trainer reaches, transitively
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(deps.get(mod, ()))
    assert not [m for m in seen if m.startswith("ganforge.doctor")]
