"""The code's shape, read from the source so it stays true. Rules, not a total order: the library (the top
level) imports one way and never imports the lab (experiments/); no method imports another method's file; no
project import hides in a function; one registry names every mixer; every option is declared once with its
default; every file reads in one sitting."""

import ast
import os

import pytest

import mixer
import options
from conftest import ROOT_DIR

LIBRARY = sorted(f[:-3] for f in os.listdir(ROOT_DIR) if f.endswith(".py"))
LAB = sorted("experiments." + f[:-3] for f in os.listdir(os.path.join(ROOT_DIR, "experiments")) if f.endswith(".py"))
# one file per paper (the Data Mixing Agent's environment, trajectories.py, is shared with RegMix's proxy runs)
METHODS = {"odm", "velocity", "acodm", "agent", "regmix"}


def path_of(module):
    return os.path.join(ROOT_DIR, *module.split(".")) + ".py"


def tree(module):
    with open(path_of(module)) as f:
        return ast.parse(f.read())


def imported_modules(node):
    """The project-level names an import statement reaches: 'train', 'experiments.suite', ..."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "experiments":
            return [f"experiments.{a.name}" for a in node.names]
        return [node.module]
    return []


def project_imports(module):
    known = set(LIBRARY) | set(LAB) | {"experiments"}
    return {name for node in ast.walk(tree(module)) for name in imported_modules(node) if name in known}


def test_the_library_never_imports_the_lab():
    for module in LIBRARY:
        lab = sorted(name for name in project_imports(module) if name.startswith("experiments"))
        assert not lab, f"{module}.py imports {lab}: the library at the top never imports the lab"


def test_the_library_and_the_lab_import_one_way():
    graph = {m: project_imports(m) - {"experiments"} for m in LIBRARY + LAB}
    done, path = set(), []

    def visit(module):
        assert module not in path, "import cycle: " + " -> ".join(path[path.index(module):] + [module])
        if module in done:
            return
        path.append(module)
        for name in sorted(graph[module]):
            visit(name)
        path.pop()
        done.add(module)
    for module in graph:
        visit(module)


def test_no_method_file_imports_another_methods_file():
    for module in sorted(METHODS):
        others = sorted(project_imports(module) & (METHODS - {module}))
        assert not others, f"{module}.py imports {others}: one paper must not depend on another"


@pytest.mark.parametrize("folder", [".", "experiments", "tests"])
def test_no_function_imports_a_project_module(folder):
    project = set(LIBRARY) | {m.split(".")[-1] for m in LAB} | {"experiments", "conftest"}
    for name in sorted(os.listdir(os.path.join(ROOT_DIR, folder))):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(ROOT_DIR, folder, name)) as f:
            source = ast.parse(f.read())
        for function in [n for n in ast.walk(source) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(function):
                hidden = [m for m in imported_modules(node) if m.split(".")[0] in project]
                assert not hidden, f"{folder}/{name}:{node.lineno} imports {hidden} inside {function.name}()"


def test_one_registry_names_every_mixer_class():
    literals, writes = [], []
    for module in LIBRARY + LAB:
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
    assert set(mixer.SHARED_OPTIONS) <= set(options.OPTIONS), "a shared option that no mixer reads"
    for module in LIBRARY + LAB:  # config.get("bandit_alpha", 0.9) would be a second default
        for node in ast.walk(tree(module)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and ("cfg" in ast.unparse(node.func.value) or "config" in ast.unparse(node.func.value)) \
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in declared:
                pytest.fail(f"{module}:{node.lineno} reads option '{node.args[0].value}' with .get()")


def test_help_groups_the_options_by_the_mixers_that_read_them(capsys):
    with pytest.raises(SystemExit):
        options.parse_config(["--help"])
    text = capsys.readouterr().out
    assert "options of mixer dbl, velocity:" in text and "options of mixer bandit, acodm:" in text
    bandit_group = text.split("options of mixer bandit:")[1].split("options of")[0]
    assert "--bandit_alpha FLOAT" in bandit_group and "--dbl_eta" not in bandit_group
    warmup_group = text.split("options of mixer bandit, acodm:")[1].split("options of")[0]
    assert "--warmup_share FLOAT" in warmup_group and "--mix_interval" not in warmup_group


def test_every_file_reads_in_one_sitting():
    tests = [os.path.join("tests", f) for f in os.listdir(os.path.join(ROOT_DIR, "tests")) if f.endswith(".py")]
    files = [os.path.relpath(path_of(m), ROOT_DIR) for m in LIBRARY + LAB] + tests
    for name in files:
        with open(os.path.join(ROOT_DIR, name)) as f:
            assert sum(1 for _ in f) <= 700, f"{name}: past 700 lines it holds more than one concept; split it there"
    with open(os.path.join(ROOT_DIR, "README.md")) as f:
        assert sum(1 for _ in f) <= 250, "the README is a front door; details go to docs/"


def test_help_states_each_default_once_and_an_abbreviation_is_not_an_option(capsys):
    with pytest.raises(SystemExit):
        options.parse_config(["--help"])
    text = capsys.readouterr().out
    assert "(default: )" not in text and "(default: None)" not in text and "bandit_reward" not in text
    with pytest.raises(SystemExit):  # --resum is a typo, not --resume
        options.parse_config(["--resum"])
    assert "unrecognized arguments: --resum" in capsys.readouterr().err
