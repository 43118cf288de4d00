"""Out-of-range training settings and a bad SEPTCTL_THREADS are one-line refusals (exit 2), before any work."""

from __future__ import annotations

import typing

import pytest

from tests.faults.conftest import Result, assert_refused

BAD_TRAIN = [
    ("--shots", "0"), ("--shots", "-3"), ("--epochs", "0"), ("--n-ctx", "0"), ("--batch-size", "0"),
    ("--lr", "-1"), ("--lr", "0"), ("--lr", "nan"), ("--lr", "inf"),
]


@pytest.mark.parametrize("option,value", BAD_TRAIN)
def test_train_refuses_out_of_range(run_cli, synth_dataset, tmp_path, option, value):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "1", option, value,
                                   "--out", out, "-q")
    assert_refused(Result(code, stdout, stderr), option)
    assert not out.exists()  # refused before the run folder (or its lock) is made


@pytest.mark.parametrize("value", ["nan", "-1"])
def test_train_refuses_bad_lambda(run_cli, synth_dataset, tmp_path, value):
    code, stdout, stderr = run_cli("train", synth_dataset, "--backbone", "tiny", "--sept", "--neighbors", "n.yaml",
                                   "--margins", "m.safetensors", "--lambda", value, "--out", tmp_path / "run")
    assert_refused(Result(code, stdout, stderr), "--lambda")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5"])
def test_bad_thread_count_is_refused(run_cli, synth_dataset, monkeypatch, value):
    monkeypatch.setenv("SEPTCTL_THREADS", value)
    code, stdout, stderr = run_cli("embed", synth_dataset, "--backbone", "tiny", "-q")
    assert_refused(Result(code, stdout, stderr), "SEPTCTL_THREADS")


# --- every numeric option of every command, found by walking the app (a new option is covered by itself) ---

def _numeric_options() -> list[tuple[tuple[str, ...], str, type, int | float | None]]:
    """(command path, --flag, int or float, declared minimum) for every numeric option."""
    import typing

    from septctl.cli.main import app
    from septctl.cli.numbers import numeric_options
    from septctl.engine.config import _BOUNDS

    def walk(a, path=()):
        for c in a.registered_commands:
            yield (*path, c.name or c.callback.__name__), c.callback
        for g in a.registered_groups:
            yield from walk(g.typer_instance, (*path, g.name))

    found = []
    for path, callback in walk(app):
        hints = typing.get_type_hints(callback)
        for name, info in numeric_options(callback).items():
            flag = next((d for d in info.param_decls or () if d.startswith("--")), "--" + name.replace("_", "-"))
            kind = float if float in {hints[name], *typing.get_args(hints[name])} else int
            low = info.min
            if low is None and path == ("train",) and name in _BOUNDS:
                low = _BOUNDS[name][0] if _BOUNDS[name][1] else _BOUNDS[name][0] + (1 if kind is int else 1e-9)
            found.append((path, flag, kind, low))
    return found


def _bad_values(kind: type, low) -> list[str]:
    values = ["abc", "-1", ""] + (["nan", "inf", "-inf", "1e999"] if kind is float else ["1.5", "1e3"])
    if low is not None and low > 0:
        values.append("0")
    return values


CASES = [pytest.param(path, flag, value, id=f"{' '.join(path)} {flag} {value!r}")
         for path, flag, kind, low in _numeric_options() for value in _bad_values(kind, low)]


def test_the_walk_finds_the_options():
    flags = {(" ".join(path), flag) for path, flag, _, _ in _numeric_options()}
    assert {("train", "--lr"), ("train", "--shots"), ("grid", "--epochs"), ("margins", "--batch-size"),
            ("neighbors generate", "--timeout"), ("plot tsne", "--perplexity")} <= flags


@pytest.mark.parametrize("path,flag,value", CASES)
def test_every_numeric_option_refuses_bad_values(run_cli, tmp_path, path, flag, value):
    # the bad option comes first: click checks given options before missing arguments
    code, stdout, stderr = run_cli(*path, flag, value, "x", "--out", tmp_path / "o") if path == ("train",) \
        else run_cli(*path, flag, value)
    line = assert_refused(Result(code, stdout, stderr), flag)
    assert "see `septctl" in line or path == ("train",) or "--" in line


@pytest.mark.parametrize("env,value", [("EPOCHS", "0"), ("EPOCHS", "nan"), ("SEEDS", "-1"), ("SEEDS", "a b"),
                                       ("SHOTS", "0"), ("SHOTS", ""), ("FOLDS", "x"), ("METHODS", "coop copo"),
                                       ("METHODS", " ")])
def test_grid_environment_variables_are_checked(run_cli, monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    code, stdout, stderr = run_cli("grid", "base2new", "sesa", "--backbone", "tiny", "--plan")
    assert_refused(Result(code, stdout, stderr))


@pytest.mark.parametrize("args,says", [(("trian",), "No such command"), (("train",), "Missing argument"),
                                       (("train", "x", "--lr"), "requires an argument"),
                                       (("data", "list", "--bogus"), "No such option")])
def test_usage_errors_are_one_line(run_cli, args, says):
    code, stdout, stderr = run_cli(*args)
    assert says in assert_refused(Result(code, stdout, stderr))


def test_no_arguments_shows_help(run_cli):
    code, stdout, stderr = run_cli()
    assert code == 0 and "Usage" in stdout + stderr


def test_flags_show_no_value_in_help(run_cli, monkeypatch):
    """`--quiet`, not `--quiet <bool>`: a flag takes no value (Typer's own --help keeps its label)."""
    monkeypatch.setenv("COLUMNS", "200")
    for command in [[], *(list(path) for path, _ in _walk())]:
        code, usage, _ = run_cli(*command, "--help")
        assert code == 0
        flags = [line for line in usage.splitlines() if "<bool>" in line and "--help" not in line]
        assert flags == [], (command, flags)


# --- every choice-valued option (an Enum) lists its choices and is checked by Typer ---

def _walk(a=None, path=()):
    from septctl.cli.main import app

    a = a or app
    for c in a.registered_commands:
        yield (*path, c.name or c.callback.__name__), c.callback
    for g in a.registered_groups:
        yield from _walk(g.typer_instance, (*path, g.name))


def _choice_options() -> list[tuple[tuple[str, ...], str, tuple[str, ...]]]:
    """(command path, --flag, choices) for every option whose type is an Enum (alone, optional or a list)."""
    from enum import Enum

    from septctl.cli.numbers import declared_options

    found = []
    for path, callback in _walk():
        for name, (hint, info) in declared_options(callback).items():
            enum = next((t for t in (hint, *typing.get_args(hint)) if isinstance(t, type) and issubclass(t, Enum)), None)
            if enum is not None:
                decls = (info.default, *info.param_decls) if str(info.default).startswith("-") else info.param_decls
                flag = next(d for d in decls if d.startswith("--"))  # Annotated: the first name is in .default
                found.append((path, flag, tuple(e.value for e in enum)))
    return found





def test_the_walk_finds_the_choices():
    found = {(" ".join(path), flag): choices for path, flag, choices in _choice_options()}
    assert found[("train", "--backbone")][:2] == ("tiny", "pengi") and found[("train", "--baseline")]
    for key in [("train", "--classes"), ("train", "--crop"), ("eval", "--classes"), ("margins", "--backbone"),
                ("report", "--format"), ("report", "--table"), ("grid", "--stage"), ("grid-eval", "--classes"),
                ("neighbors generate", "--split"), ("plot tsne", "--classes"), ("data download", "--source")]:
        assert key in found, key
    assert len(found) >= 20


@pytest.mark.parametrize("path,flag,choices", [pytest.param(p, f, c, id=f"{' '.join(p)} {f}")
                                               for p, f, c in _choice_options()])
def test_every_choice_option_lists_and_checks_its_choices(run_cli, monkeypatch, path, flag, choices):
    monkeypatch.setenv("COLUMNS", "300")
    code, usage, _ = run_cli(*path, "--help")
    assert code == 0 and "|".join(choices) in usage, usage
    code, stdout, stderr = run_cli(*path, flag, "bogus")
    line = assert_refused(Result(code, stdout, stderr), flag)
    assert "'bogus' is not one of " + ", ".join(f"'{c}'" for c in choices) in line, line


def test_train_has_one_flag_per_declared_method_option(run_cli, monkeypatch):
    """The flags come from the methods' registry, so a new method's options need no edit of the CLI."""
    from septctl.methods.registry import all_options

    monkeypatch.setenv("COLUMNS", "200")
    code, usage, _ = run_cli("train", "--help")
    panel = usage[usage.index("Method options"):]
    assert code == 0 and len(all_options()) >= 4
    for declared in all_options():
        assert declared.flag in panel and declared.help.split(":")[0] in panel


def test_command_modules_evaluate_their_annotations_once():
    """With `from __future__ import annotations`, every get_type_hints() call builds a new typer.Option from the
    string, so what start-up sets on an option (the number guard, the flag metavar) would not be what Typer uses."""
    import ast
    from pathlib import Path

    import septctl.cli

    for path in Path(septctl.cli.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
        inline = any(isinstance(f, ast.FunctionDef) and ("typer.Option(" in ast.unparse(f.args)
                                                        or "typer.Argument(" in ast.unparse(f.args)) for f in ast.walk(tree))
        assert not (future and inline), f"{path.name}: drop `from __future__ import annotations`"
