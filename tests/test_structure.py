"""The code's shape, read from the source so it stays true: imports go one way, one registry names every
mixer, every option is declared once with its default, and every file reads in one sitting."""

import ast
import os

import pytest

import mixer
import options
from conftest import ROOT_DIR

MODULES = sorted(f[:-3] for f in os.listdir(ROOT_DIR) if f.endswith(".py"))
# the layers, bottom up: a module may import only from layers below its own
LAYERS = [{"sources", "model", "distributed", "tokens"}, {"tokenizer"}, {"prepare"}, {"data"}, {"mixer"}, {"velocity"}, {"acodm"},
          {"trajectories"}, {"agent"}, {"regmix"}, {"options"}, {"evaluate"}, {"tables"}, {"report"}, {"train"}, {"swarm"},
          {"suite", "bench", "pretrain", "mixing", "sample"}, {"agent_experiment"}]


def tree(module):
    with open(os.path.join(ROOT_DIR, module + ".py")) as f:
        return ast.parse(f.read())


def imported_modules(node):
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def test_every_module_has_a_layer_and_imports_only_from_layers_below():
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    assert set(MODULES) == set(layer_of), "a new module needs its place in LAYERS"
    for module in MODULES:
        for node in ast.walk(tree(module)):
            for name in imported_modules(node):
                if name in layer_of:
                    assert layer_of[name] < layer_of[module], f"{module} imports {name}: imports go one way"


@pytest.mark.parametrize("folder", [".", "tests"])
def test_no_function_imports_a_project_module(folder):
    project = set(MODULES) | {"conftest"}
    for name in sorted(os.listdir(os.path.join(ROOT_DIR, folder))):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(ROOT_DIR, folder, name)) as f:
            source = ast.parse(f.read())
        for function in [n for n in ast.walk(source) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(function):
                hidden = [m for m in imported_modules(node) if m in project]
                assert not hidden, f"{folder}/{name}:{node.lineno} imports {hidden} inside {function.name}()"


def test_one_registry_names_every_mixer_class():
    literals, writes = [], []
    for module in MODULES:
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MIXERS" for t in node.targets):
                literals.append(module)
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Subscript) and getattr(t.value, "id", None) == "MIXERS" for t in targets):
                writes.append(f"{module}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and getattr(node.func.value, "id", None) == "MIXERS" and node.func.attr in ("update", "setdefault"):
                writes.append(f"{module}:{node.lineno}")
    assert literals == ["options"] and not writes, (literals, writes)

    def subclasses(cls):
        return {cls} | {s for c in cls.__subclasses__() for s in subclasses(c)}
    named = {cls for cls in subclasses(mixer.Mixer) - {mixer.Mixer} if "name" in vars(cls)}
    assert named == set(options.MIXERS.values())
    assert all(options.MIXERS[cls.name] is cls for cls in named)


def test_every_option_is_declared_once_and_no_default_is_written_again():
    declared = list(options.LOOP_OPTIONS) + [k for group in options.mixer_option_groups().values() for k in group]
    assert len(declared) == len(set(declared)) == len(options.OPTIONS)
    for module in MODULES:  # config.get("bandit_alpha", 0.9) would be a second default
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and ("cfg" in ast.unparse(node.func.value) or "config" in ast.unparse(node.func.value)) \
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in declared:
                pytest.fail(f"{module}.py:{node.lineno} reads option '{node.args[0].value}' with .get()")


def test_help_groups_the_options_by_mixer(capsys):
    with pytest.raises(SystemExit):
        options.parse_config(["--help"])
    text = capsys.readouterr().out
    assert "options of every mixer:" in text and "options of mixer dbl, velocity:" in text
    bandit_group = text.split("options of mixer bandit:")[1].split("options of")[0]
    assert "--bandit_alpha FLOAT" in bandit_group and "--dbl_eta" not in bandit_group


def test_every_file_reads_in_one_sitting():
    tests = [os.path.join("tests", f) for f in os.listdir(os.path.join(ROOT_DIR, "tests")) if f.endswith(".py")]
    files = [m + ".py" for m in MODULES] + tests
    for name in files:
        with open(os.path.join(ROOT_DIR, name)) as f:
            assert sum(1 for _ in f) <= 550, name
    with open(os.path.join(ROOT_DIR, "README.md")) as f:
        assert sum(1 for _ in f) <= 250, "the README is a front door; details go to docs/"
