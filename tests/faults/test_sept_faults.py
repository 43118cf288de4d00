"""Bad SEPT inputs: neighbors, margins, templates and LLM replies that are not what was asked."""

from __future__ import annotations

import json

import pytest
import yaml

from septctl.artifacts import load_tensors, save_tensors


def _sept_train(world, out, neighbors, margins) -> list:
    return ["train", "--backbone", "tiny", world.data, "--epochs", "1", "--shots", "1", "--out", out, "-q", "--sept",
            "--neighbors", neighbors, "--margins", margins]


def _neighbors(path, table) -> None:
    path.write_text(yaml.safe_dump({"neighbors": table}))


def test_sept_inputs_are_accepted_when_right(world, tmp_path, cli):
    """The control: the world's neighbors and margins do train, so each refusal below is about its one fault."""
    result = cli(*_sept_train(world, tmp_path / "run", world.neighbors, world.margins))
    assert result.code == 0, result.err


def test_neighbors_for_other_classes_are_refused(world, tmp_path, refused):
    other = tmp_path / "esc-neighbors.yaml"
    _neighbors(other, {c: [f"{c} one", f"{c} two"] for c in ("dog", "rooster", "pig", "cow")})
    refused(_sept_train(world, tmp_path / "run", other, world.margins), "esc-neighbors.yaml", "other classes",
            fix="septctl neighbors")


def test_margins_for_another_backbone_are_refused(world, tmp_path, refused):
    margins = tmp_path / "pengi-margins.safetensors"
    tensors, meta = load_tensors(world.margins)
    save_tensors(margins, tensors, {**meta, "backbone": "pengi", "weights_id": "feedfacecafebeef"})
    refused(_sept_train(world, tmp_path / "run", world.neighbors, margins), "pengi-margins.safetensors", "pengi",
            fix="septctl margins")


def test_margins_for_other_classes_are_refused(world, tmp_path, refused):
    margins = tmp_path / "other-margins.safetensors"
    tensors, meta = load_tensors(world.margins)
    save_tensors(margins, tensors, {**meta, "classes": json.dumps(["a", "b", "c", "d"])})
    refused(_sept_train(world, tmp_path / "run", world.neighbors, margins), "other-margins.safetensors",
            "other classes")


def test_margins_of_another_neighbors_file_are_refused(world, tmp_path, refused):
    edited = tmp_path / "neighbors-v2.yaml"
    _neighbors(edited, {c: [f"{c} nearby", f"quiet {c}"] for c in world.base})
    refused(_sept_train(world, tmp_path / "run", edited, world.margins), "margins.safetensors",
            "another neighbors file")


def test_corrupt_neighbors_file_is_refused(world, tmp_path, refused):
    bad = tmp_path / "neighbors.yaml"
    bad.write_text("neighbors:\n  siren: [wail, 'unclosed\n")
    refused(_sept_train(world, tmp_path / "run", bad, world.margins), "neighbors.yaml", "not valid")


def test_neighbors_with_unequal_counts_are_refused(world, tmp_path, refused):
    bad = tmp_path / "ragged.yaml"
    table = {c: [f"{c} one", f"{c} two"] for c in world.base}
    table[world.base[0]].append("third")
    _neighbors(bad, table)
    refused(_sept_train(world, tmp_path / "run", bad, world.margins), "ragged.yaml",
            f"most have 2, but {world.base[0]!r} has 3")  # names the odd class


def test_missing_neighbors_file_is_refused(world, tmp_path, refused):
    refused(_sept_train(world, tmp_path / "run", tmp_path / "nowhere.yaml", world.margins), "nowhere.yaml",
            "not found")


def test_prefixes_with_a_template_without_slot_are_refused(world, tmp_path, refused):
    prefixes = tmp_path / "prefixes.yaml"
    prefixes.write_text(yaml.safe_dump({"prefixes": ["a sound of {}.", "a recording of a thing."]}))
    refused(["margins", "--neighbors", world.neighbors, "--prefixes", prefixes, "--backbone", "tiny",
             "--out", tmp_path / "m.safetensors"], "prefixes.yaml", "a recording of a thing.")


def test_single_template_without_slot_is_refused(world, tmp_path, refused):
    refused(["margins", "--neighbors", world.neighbors, "--single-template", "a sound.", "--backbone", "tiny",
             "--out", tmp_path / "m.safetensors"], "--single-template", "{}")


def test_class_list_with_repeats_is_refused(tmp_path, refused):
    classes = tmp_path / "classes.txt"
    classes.write_text("siren\nrain\nsiren\n")
    refused(["neighbors", "--classes", classes, "--llm", "builtin", "--out", tmp_path / "n.yaml"], "classes.txt",
            "distinct")


# --- LLM replies that are not what was asked ---------------------------------------------------------

def _ask(tmp_path, fake_llm) -> list:
    classes = tmp_path / "classes.txt"
    classes.write_text("siren\nrain\n")
    return ["neighbors", "--classes", classes, "--llm", "fake-model", "--base-url", fake_llm.url, "--n", "2",
            "--max-rounds", "2", "--max-tries", "1", "--quiet", "--out", tmp_path / "n.yaml"]


@pytest.mark.parametrize(
    "reply",
    ["Sorry, I cannot help with that.",
     json.dumps({"dog": ["bark", "woof"], "cat": ["meow", "purr"]}),
     json.dumps({"siren": ["siren", "rain"], "rain": ["rain", "rain"]})],
    ids=["prose-not-json", "other-classes", "class-names-as-neighbors"],
)
def test_llm_reply_that_is_not_what_was_asked_is_refused(tmp_path, refused, fake_llm, reply):
    fake_llm.reply = reply
    line = refused(_ask(tmp_path, fake_llm), "fake-model", fake_llm.url.split("//")[1], "after 2 requests",
                   "n.llm.json", fix="--llm builtin", kept=(tmp_path / "n.llm.json",))
    assert [r["reply"] for r in json.loads((tmp_path / "n.llm.json").read_text())["requests"]] == [reply] * 2
    assert len(fake_llm.seen_auth) == 2 and "siren" in line
    assert not (tmp_path / "n.yaml").exists()


def test_llm_http_error_is_refused(tmp_path, refused, fake_llm):
    fake_llm.status, fake_llm.error_message = 404, "model 'fake-model' does not exist"
    refused(_ask(tmp_path, fake_llm), "fake-model", "HTTP 404", fix="--base-url", kept=(tmp_path / "n.llm.json",))
