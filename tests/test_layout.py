"""The shape of the code: the import graph is a tree of layers (lesson 00, "A map of the code").

The RLHF code never imports the TinyChat world, the world imports no model code, no module
in nanorlhf/ imports a top-level script, and every module is on lesson 00's map.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nanorlhf"
SCRIPTS = {p.stem for p in ROOT.glob("train_*.py")}

# the method: what another world, or a user's own data, would reuse unchanged
RLHF = {"nanorlhf.chat", "nanorlhf.checkpoint", "nanorlhf.common", "nanorlhf.data", "nanorlhf.dist", "nanorlhf.gpt2",
        "nanorlhf.model", "nanorlhf.muon", "nanorlhf.reward", "nanorlhf.rl", "nanorlhf.sampling", "nanorlhf.sft",
        "nanorlhf.tokenizer"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """Every module a file imports, at the top or inside a function: 'nanorlhf.chat', 'torch', ..."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from nanorlhf.tinychat import labeler` imports the module nanorlhf.tinychat.labeler
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def reachable(name):
    seen, todo = set(), [name]
    while todo:
        for m in GRAPH[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_no_module_in_the_package_imports_a_script():
    for name, path in MODULES.items():
        assert not {m.split(".")[0] for m in imports(path)} & SCRIPTS, f"{name} imports a top-level script"


def test_the_rlhf_code_never_reaches_the_world():
    assert RLHF <= set(MODULES)
    for name in RLHF:
        world = {m for m in reachable(name) if m.startswith("nanorlhf.tinychat")}
        assert not world, f"{name} imports the TinyChat world: {sorted(world)}"


def test_the_world_imports_no_model_code():
    for name in MODULES:
        if name.startswith("nanorlhf.tinychat"):
            outside = {m for m in reachable(name) if not m.startswith("nanorlhf.tinychat")}
            assert outside <= {"nanorlhf.data"}, f"{name} imports {sorted(outside)}"
            assert not {m.split(".")[0] for m in imports(MODULES[name])} & {"torch", "tiktoken"}, name


def test_the_import_graph_has_no_cycles():
    for name in MODULES:
        assert name not in reachable(name), f"{name} imports itself through {sorted(reachable(name))}"


def test_every_module_is_on_lesson_00s_map():
    text = (ROOT / "lessons" / "00_overview.md").read_text()
    start = text.index("## A map of the code")
    section = text[start:text.index("\n## ", start + 1)]
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            assert path.name in section, f"lesson 00's map of the code does not show {path.relative_to(ROOT)}"
