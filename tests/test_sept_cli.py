"""`septctl neighbors [generate|stats]`, `septctl prefixes` and the library functions behind them, with the
built-in banks (no network)."""

from __future__ import annotations

import importlib
import json

import pytest
import yaml

from tests.conftest import invoke as run

SESA = {
    "casual": ["chatter", "footsteps in a hall", "door closing", "people talking", "coughing", "keys jingling",
               "cup clinking", "chair scrape", "light laughter", "phone ringing"],
    "explosion": ["blast", "detonation", "boom", "bomb going off", "distant gunshot", "shock wave", "kaboom",
                  "demolition charge", "firework burst", "rumbling blast"],
    "gunshot": ["rifle fire", "pistol shot", "bang", "gunfire", "shotgun blast", "ricochet", "muzzle report",
                "volley", "automatic fire", "sniper shot"],
    "siren": ["police siren", "ambulance wail", "fire truck horn", "air raid siren", "emergency alarm",
              "wailing tone", "warbling siren", "yelp siren", "civil defense alarm", "hi-lo siren"],
}
PREFIXES = ["This is a sound of {}.", "a recording of {}", "the noise of {}", "{} in the distance", "I hear {}."]


@pytest.fixture
def banks(tmp_path, monkeypatch):
    """Point the loaders at small bank files (the shipped banks are another module's data)."""
    nb_path, px_path = tmp_path / "bank-neighbors.yaml", tmp_path / "bank-prefixes.yaml"
    nb_path.write_text(yaml.safe_dump({"datasets": {"sesa": SESA}}))
    px_path.write_text(yaml.safe_dump({"prefixes": PREFIXES}))
    monkeypatch.setattr("septctl.sept.neighbors.bank_path", lambda modality="audio": nb_path)
    monkeypatch.setattr("septctl.sept.prefixes.bank_path", lambda modality="audio": px_path)
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_builtin_neighbors_for_base_and_all(banks, monkeypatch, capsys):
    out = banks / "n.yaml"
    code, cap = run(monkeypatch, capsys, "neighbors", "sesa", "--llm", "builtin", "--out", str(out))
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    assert list(data["neighbors"]) == ["casual", "explosion"]  # base classes only
    assert data["neighbors"]["explosion"] == SESA["explosion"]
    assert data["card"]["classes_from"] == {"dataset": "sesa", "split": "base"} and data["card"]["n"] == 10
    code, cap = run(monkeypatch, capsys, "neighbors", "generate", "SESA", "--llm", "builtin", "--split", "all",
                    "--n", "4", "--out", str(out), "--force")
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    assert list(data["neighbors"]) == sorted(SESA) and all(len(v) == 4 for v in data["neighbors"].values())


def test_builtin_with_class_file_and_exclusions(banks, monkeypatch, capsys):
    classes, excl, out = banks / "classes.txt", banks / "excl.txt", banks / "n.yaml"
    classes.write_text("siren\n\nexplosion\n")
    excl.write_text("gunshot\n")
    code, cap = run(monkeypatch, capsys, "neighbors", "--classes", str(classes), "--llm", "builtin", "--n", "9",
                    "--exclude-names", str(excl), "--out", str(out), "--force")
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    assert "distant gunshot" not in data["neighbors"]["explosion"] and len(data["neighbors"]["explosion"]) == 9
    assert data["card"]["exclude_names"] == ["gunshot"]
    code, cap = run(monkeypatch, capsys, "neighbors", "--classes", str(classes), "--llm", "builtin",
                    "--exclude-names", str(excl), "--out", str(out))
    assert code == 2 and "only 9 usable built-in neighbors for 'explosion'" in cap.err


def test_neighbors_input_errors(banks, monkeypatch, capsys):
    code, cap = run(monkeypatch, capsys, "neighbors", "nosuchset", "--llm", "builtin")
    assert code == 2 and "unknown dataset 'nosuchset'" in cap.err
    code, cap = run(monkeypatch, capsys, "neighbors", "--llm", "builtin")
    assert code == 2 and "either a DATASET" in cap.err
    code, cap = run(monkeypatch, capsys, "neighbors", "esc50", "--llm", "builtin")
    assert code == 2 and "no built-in neighbors for 25 of 25 classes: 'airplane' (none close)" in cap.err


def test_builtin_names_every_missing_class_with_the_closest_and_ignores_case(banks, monkeypatch, capsys):
    classes = banks / "classes.txt"
    classes.write_text("Siren \nsirens\ngun shots\nCASUAL\nwhale song\n")
    code, cap = run(monkeypatch, capsys, "neighbors", "--classes", classes, "--llm", "builtin", "--out",
                    banks / "n.yaml")
    line = " ".join(cap.err.split())
    assert code == 2 and "no built-in neighbors for 3 of 5 classes:" in line
    assert "'gun shots' (closest: 'gunshot'); 'sirens' (closest: 'siren'); 'whale song' (none close)" in line
    assert "write neighbors.yaml by hand (see docs/sept.md" in line
    classes.write_text("Siren \n  CASUAL\n")  # case and spacing do not matter
    code, cap = run(monkeypatch, capsys, "neighbors", "--classes", classes, "--llm", "builtin", "--out",
                    banks / "n.yaml")
    assert code == 0, cap.err
    assert yaml.safe_load((banks / "n.yaml").read_text())["neighbors"] == {"CASUAL": SESA["casual"],
                                                                           "Siren": SESA["siren"]}
    code, cap = run(monkeypatch, capsys, "neighbors", "sesa", "--llm", "builtin", "--split", "new")
    assert code == 2 and "Invalid value for '--split'" in cap.err and "'new' is not one of 'base', 'all'" in cap.err


def test_builtin_prefixes(banks, monkeypatch, capsys):
    out = banks / "p.yaml"
    code, cap = run(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--n", "3", "--out", str(out))
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    assert data["prefixes"] == PREFIXES[:3] and data["card"]["kind"] == "prefixes"
    code, cap = run(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--out", str(out), "--force")
    assert code == 2 and "has 5 templates, not 100" in cap.err


def test_stats_table_and_json(banks, monkeypatch, capsys):
    nfile = banks / "n.yaml"
    assert run(monkeypatch, capsys, "neighbors", "sesa", "--llm", "builtin", "--out", str(nfile))[0] == 0
    code, cap = run(monkeypatch, capsys, "neighbors", "stats", str(nfile), "sesa", "--backbone", "tiny", "--json")
    assert code == 0, cap.err
    rows = json.loads(cap.out)
    assert [r["source"] for r in rows] == [str(nfile), "sesa"]
    for r in rows:
        assert r["classes"] == 2 and r["n"] == 10
        assert -1 <= r["negative_sim"] <= 1 and -1 <= r["positive_sim"] <= 1 and 0 <= r["diversity"] <= 2
        # new classes of SESA (gunshot, siren) found from the dataset / guessed from the file's base classes
        assert r["new_overlap"] == pytest.approx(1 / 20) and r["overlapping"] == ["distant gunshot"]
    assert rows[0]["positive_sim"] == pytest.approx(rows[1]["positive_sim"], abs=1e-6)
    code, cap = run(monkeypatch, capsys, "neighbors", "stats", "sesa", "--backbone", "tiny")
    assert code == 0 and "diversity" in cap.out and "5.0%" in cap.out


def test_stats_matches_a_direct_computation(banks):
    import torch
    import torch.nn.functional as F

    from septctl.backbones.tiny import TinyBackbone
    from septctl.sept.stats import neighbor_stats

    bb = TinyBackbone()
    classes, rows = ["explosion", "siren"], [SESA["explosion"][:3], SESA["siren"][:3]]
    s = neighbor_stats(bb, classes, rows, source="x")

    def f(t):
        return F.normalize(bb.encode_sentences([f"This is a sound of {t}."]), dim=-1)[0]

    pos = sum(torch.dot(f(c), f(p)).item() for c, r in zip(classes, rows) for p in r) / 6
    neg = sum(torch.dot(f(classes[i]), f(p)).item() for i in range(2) for p in rows[1 - i]) / 6
    div = sum(1 - sum(torch.dot(f(r[a]), f(r[b])).item() for a, b in [(0, 1), (0, 2), (1, 2)]) / 3 for r in rows) / 2
    assert (s.positive_sim, s.negative_sim, s.diversity) == pytest.approx((pos, neg, div), abs=1e-5)
    assert s.new_overlap is None


def test_registered_in_main_app():
    try:
        main = importlib.import_module("septctl.cli.main")
    except ModuleNotFoundError as exc:
        pytest.skip(f"another CLI module is not there yet: {exc}")
    names = {c.name for c in main.app.registered_commands} | {g.name for g in main.app.registered_groups}
    assert {"neighbors", "prefixes", "margins"} <= names


def test_neighbors_of_a_dataset_folder_take_its_base_classes(tmp_path, synth_dataset, monkeypatch, capsys):
    out = tmp_path / "folder.yaml"  # the shipped bank: synth's classes are ESC-50 names
    code, cap = run(monkeypatch, capsys, "neighbors", str(synth_dataset), "--llm", "builtin", "--out", str(out))
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    assert sorted(data["neighbors"]) == ["chirping birds", "church bells", "clock alarm", "clock tick"]
    assert data["card"]["classes_from"] == {"dataset": str(synth_dataset), "split": "base"}


def test_commands_write_what_the_library_functions_grid_prep_calls_write(banks, monkeypatch, capsys):
    """neighbors, prefixes and margins are wrappers over sept_inputs: same content, same messages."""
    from septctl.artifacts import load_tensors
    from septctl.sept_inputs import write_margins, write_neighbors, write_prefixes

    cli, lib = banks / "cli", banks / "lib"
    said_cli, said_lib = [], []
    for args in (["neighbors", "sesa", "--llm", "builtin", "--out", cli / "n.yaml"],
                 ["prefixes", "--llm", "builtin", "--n", "5", "--out", cli / "p.yaml"],
                 ["margins", "--neighbors", cli / "n.yaml", "--prefixes", cli / "p.yaml", "--backbone", "tiny",
                  "--out", cli / "m.safetensors"]):
        code, cap = run(monkeypatch, capsys, *map(str, args))
        assert code == 0, cap.err
        said_cli.append(cap.err.replace(str(cli), "D"))
    lib.mkdir()
    capsys.readouterr()
    for write in (lambda: write_neighbors(lib / "n.yaml", dataset="sesa"), lambda: write_prefixes(lib / "p.yaml", n=5),
                  lambda: write_margins(lib / "m.safetensors", neighbors=lib / "n.yaml", prefixes=lib / "p.yaml",
                                        backbone="tiny")):
        write()
        said_lib.append(capsys.readouterr().err.replace(str(lib), "D"))
    assert said_cli == said_lib
    assert said_cli[0] == "wrote D/n.yaml: 2 classes x 10 neighbors (built-in bank)\n"  # sesa's base half
    for name in ("n.yaml", "p.yaml"):
        a, b = (yaml.safe_load((d / name).read_text()) for d in (cli, lib))
        for card in (a["card"], b["card"]):
            del card["created"], card["command"]  # when and by which command line, not what
        assert a == b
    (m_cli, meta_cli), (m_lib, meta_lib) = (load_tensors(d / "m.safetensors") for d in (cli, lib))
    assert m_cli["margins"].shape == (2, 2, 10) and m_cli["margins"].equal(m_lib["margins"])
    assert meta_cli["templates_sha256"] == meta_lib["templates_sha256"] and meta_cli["classes"] == meta_lib["classes"]
