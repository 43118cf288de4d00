"""Issue 15 item 4: no command replaces a file the user has (say, a hand-edited neighbors.yaml) unless --force.

One table over every command with --out: it runs, reruns (an identical file is fine), then
finds its file edited and must refuse, keep the edit and name --force; with --force it replaces
it. Commands whose --out is a folder that must not exist or that only accumulates are listed
with the reason, and the table must name every --out command the CLI has.
"""

from __future__ import annotations


import pytest
import typer

from septctl.cli.main import app
from tests.faults.conftest import assert_refused


def _out_commands() -> set[str]:
    """Every command path of the CLI with an --out option."""
    found = set()

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())
        if any("--out" in getattr(p, "opts", ()) for p in cmd.params):
            found.add(path)

    walk(typer.main.get_command(app), "")
    return found


def _evaluated(world) -> str:
    """A copy of the world's run scored on base and new (what `plot results` draws), made once."""
    import shutil

    from septctl.engine.evaluate import evaluate_run

    dest = world.root / "evaluated-run"
    if not dest.exists():
        shutil.copytree(world.run, dest)
        for classes in ("base", "new"):
            evaluate_run(dest, classes)
    return str(dest)


# command -> (arguments, the file to edit) ; OUT stands for the --out path in tmp_path
FILES = {
    "neighbors generate": (lambda w: ["neighbors", "generate", "--classes", w.classes, "--llm", "builtin", "--n", "2"],
                           "neighbors.yaml", "neighbors.yaml"),
    "prefixes": (lambda w: ["prefixes", "--llm", "builtin", "--n", "3"], "prefixes.yaml", "prefixes.yaml"),
    "margins": (lambda w: ["margins", "--neighbors", w.neighbors, "--single-template", "a sound of {}.",
                           "--backbone", "tiny"], "m.safetensors", "m.safetensors"),
    "embed": (lambda w: ["embed", w.data, "--backbone", "tiny", "-q"], "e.safetensors", "e.safetensors"),
    "report": (lambda w: ["report", w.run], "tables", "tables/b2n.md"),
    "plot heatmap": (lambda w: ["plot", "heatmap", w.run, "--neighbors", w.neighbors], "fig", "fig.png"),
    "plot tsne": (lambda w: ["plot", "tsne", w.run, "--neighbors", w.neighbors, "--classes", "base",
                             "--perplexity", "2"], "fig", "fig.pdf"),
    "plot similarity": (lambda w: ["plot", "similarity", w.neighbors, "--backbone", "tiny"], "fig", "fig.png"),
    "plot results": (lambda w: ["plot", "results", _evaluated(w)], "fig", "fig.pdf"),
    "predict": (lambda w: ["predict", w.run, w.data, "--format", "csv", "-q"], "labels.csv", "labels.csv"),
}
FOLDERS = {  # --out names a folder: never a file the user wrote
    "train": "a run folder: a finished run is skipped, an interrupted one resumed, never rewritten",
    "eval": "a zero-shot result folder: keys already evaluated are skipped, new ones added",
    "grid-eval": "as eval",
    "data prepare": "must not exist",
    "data synth": "must not exist",
    "data download": "the data root: each dataset lands in its own new folder",
}


def test_every_out_command_is_in_the_table():
    assert _out_commands() == set(FILES) | set(FOLDERS)


@pytest.mark.parametrize("command", sorted(FILES))
def test_a_differing_file_is_not_replaced_without_force(command, world, cli, tmp_path):
    make, out, edited = FILES[command]
    classes = tmp_path / "classes.txt"
    classes.write_text("dog\nrain\n")
    world = type("W", (), {**vars(world), "classes": classes})
    args = [*make(world), "--out", tmp_path / out]
    first = cli(*args)
    assert first.code == 0, first.err
    target = tmp_path / edited
    assert target.is_file()
    again = cli(*args)
    assert again.code == 0, again.err  # the same output again is not a change
    hand = target.read_bytes() + (b"\n# edited by hand\nextra: 1\n" if target.suffix in (".yaml", ".md") else b"x")
    target.write_bytes(hand)
    assert_refused(cli(*args), str(target), "--force")
    assert target.read_bytes() == hand
    assert not list(tmp_path.rglob("*.tmp"))
    forced = cli(*args, "--force")
    assert forced.code == 0, forced.err
    assert target.read_bytes() != hand
