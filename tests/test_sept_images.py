"""SEPT's text stages for an image backbone (CLIP, the paper's Table 11): requests worded for pictures, the
built-in picture templates, the modality in the LLM cache key and in the files, and grid-prep's choice.

The audio path must not move: its requests are pinned by sha256 (taken from main before images existed),
so the replies users have cached keep replaying.
"""

from __future__ import annotations

import dataclasses
import json
import re
from types import SimpleNamespace

import pytest
import yaml

from septctl.artifacts import sha256_file, sha256_text
from septctl.sept import neighbors as nb
from septctl.sept import prefixes as px
from septctl.sept.llm import ChatClient
from tests.conftest import invoke as run
from tests.test_next_step import terminal  # noqa: F401 (a fixture: the next-step line is for a terminal)
from tests.test_sept_llm import FakeChat

# sha256 of the requests as septctl sent them before this change (main at 996bc24).
AUDIO_REQUESTS = {
    "neighbors, first round": ("e7e241ba727e74399c98edce79d26aab7e5e9ae9112b530c93cb0c7bee49eab6",
                               lambda m: nb.build_prompt({"dog": 10, "rain": 3}, ["dog", "rain", "siren"], {}, *m)),
    "neighbors, a re-ask": ("c16a531fca6a9587ee75c9ff06b6ec3bd2e7856ca0a6a638f4fe626cf0e44e0c",
                            lambda m: nb.build_prompt({"rain": 3}, ["dog", "rain", "siren"],
                                                      {"rain": ["drizzle", "rain drops"]}, *m)),
    "prefixes, first round": ("b92d341f794736049b49079b519a86f988a979b05b162aa678276d78b7ba7fcf",
                              lambda m: px.build_prompt(100, [], *m)),
    "prefixes, a re-ask": ("5d7312c301e2c79e32aca05031f62110dec4e44aeeab384565af7ceca4010ffc",
                           lambda m: px.build_prompt(7, ["a recording of {}.", "the sound of {}."], *m)),
}
HEARING = re.compile(r"sound|audio|acoustic|listen|hear|noise|recording", re.IGNORECASE)
SHAPES = ["blue square", "green triangle", "red circle"]


@pytest.mark.parametrize("what", AUDIO_REQUESTS)
def test_audio_requests_are_byte_for_byte_unchanged(what):
    sha, build = AUDIO_REQUESTS[what]
    assert sha256_text(build(())) == sha
    assert sha256_text(build(("audio",))) == sha  # the default is audio


@pytest.mark.parametrize("what", AUDIO_REQUESTS)
def test_image_requests_speak_of_pictures_in_the_same_structure(what):
    audio, image = (AUDIO_REQUESTS[what][1]((m,)) for m in ("audio", "image"))
    own_words = "\n".join(line for line in image.splitlines() if not line.startswith("- "))  # not the listed names
    assert not HEARING.search(own_words), HEARING.search(own_words)
    assert "image" in image and image != audio
    # Same request otherwise: the class list, the targets, the rules on distinctness and the answer's form.
    tail = audio.index("Every template") if what.startswith("prefixes") else audio.index("2. Terms for one label")
    assert image.endswith(audio[tail:])
    if what.startswith("neighbors"):
        assert audio[audio.index("The complete list"):audio.index("For each target")] in image


def test_image_neighbor_request_names_visual_kinds_of_closeness():
    text = nb.build_prompt({"airplane": 10}, ["airplane", "chair"], {}, "image")
    assert "an image classifier" in text and "visual variants" in text and "viewer" in text


def test_image_prefix_bank_is_valid():
    """100 distinct templates with one slot, through the loader's own validation; none is a sound template."""
    bank = px.template_bank(100, modality="image")
    raw = yaml.safe_load(px.bank_path("image").read_text(encoding="utf-8"))["prefixes"]
    assert bank == raw and len(bank) == 100
    assert len({t.casefold() for t in bank}) == 100
    for t in bank:
        assert t.count("{}") == 1 and "{" not in t.replace("{}", ""), t
        assert not HEARING.search(t) and len(t.split()) <= 12, t
    assert not set(bank) & set(px.template_bank(100)), "an image template is also a sound template"
    assert bank[0] == "a photo of a {}."  # CoOp's hand-written Caltech101 prompt comes first (--n 1 takes it)


def test_image_templates_fit_clip_text_length():
    from septctl.backbones.tokenizer import ClipTokenizer

    tokenizer = ClipTokenizer(77)
    longest = max(len(tokenizer.ids(t.replace("{}", ""))) for t in px.template_bank(100, modality="image"))
    assert longest <= 12  # as banks/README.md says; with 16 context tokens and a class name, far below 77


def test_prefixes_builtin_image_writes_the_image_bank(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "prefixes.yaml"
    code, cap = run(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--modality", "image", "--out", out)
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    assert data["prefixes"] == px.template_bank(100, modality="image")
    assert data["card"]["modality"] == "image"
    assert data["card"]["llm"]["bank_sha256"] == sha256_file(px.bank_path("image"))
    assert px.load_prefixes(out).modality == "image"
    audio = tmp_path / "audio.yaml"
    assert run(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--n", "3", "--out", audio)[0] == 0
    assert px.load_prefixes(audio).modality == "audio"
    assert px.load_prefixes(audio).templates == px.template_bank(3)
    code, cap = run(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--modality", "video", "--out", audio)
    assert code == 2 and "'video' is not one of 'audio', 'image'" in cap.err


def test_a_prefixes_file_without_modality_reads_as_audio(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"prefixes": ["a {}."], "card": {"kind": "prefixes"}}))
    assert px.load_prefixes(path).modality == "audio"


def test_the_cache_keeps_audio_keys_and_separates_image_requests(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    client = ChatClient(model="m", base_url="http://127.0.0.1:9/v1")
    prompt = "the same text"
    assert client.cache_key(prompt) == sha256_text(f"m\nhttp://127.0.0.1:9/v1\n{prompt}")  # audio: as always
    assert client.cache_key(prompt, "image") != client.cache_key(prompt)
    client.remember(prompt, '{"audio": true}')
    assert client.cached(prompt) == '{"audio": true}'
    assert client.cached(prompt, "image") is None  # an audio reply is never replayed for an image request
    client.remember(prompt, '{"image": true}', "image")
    assert client.cached(prompt, "image") == '{"image": true}' and client.cached(prompt) == '{"audio": true}'
    entries = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "llm").glob("*.json")]
    assert sorted(e["modality"] for e in entries) == ["audio", "image"]


@pytest.fixture
def chat(monkeypatch, tmp_path):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEPT_TEST_KEY", "k")
    fake = FakeChat()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


SHAPE_NEIGHBORS = {
    "blue square": ["navy tile", "azure block", "cobalt box shape", "sky-coloured quad"],
    "green triangle": ["emerald wedge", "lime arrowhead", "olive pyramid face", "jade pointer"],
    "red circle": ["crimson disc", "scarlet dot", "ruby ring", "cherry round badge"],
}


def _llm_args(chat) -> list[str]:
    return ["--llm", "test-model", "--base-url", chat.url, "--api-key-env", "SEPT_TEST_KEY", "--backoff", "0.01"]


def test_image_neighbors_from_an_llm_for_a_class_list(chat, tmp_path, monkeypatch, capsys, terminal):
    monkeypatch.chdir(tmp_path)  # no prefixes.yaml here: the next step names how to make one
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(SHAPES) + "\n")
    out = tmp_path / "neighbors.yaml"
    chat.script = [(200, json.dumps(SHAPE_NEIGHBORS), 0)]
    args = ["neighbors", "--classes", classes, "--modality", "image", "--n", "4", *_llm_args(chat), "--out", out]
    code, cap = run(monkeypatch, capsys, *args)
    assert code == 0, cap.err
    assert "septctl prefixes --llm builtin --modality image" in cap.err  # the next step keeps the modality
    sent = chat.prompts()
    assert len(sent) == 1 and sent[0] == nb.build_prompt({c: 4 for c in SHAPES}, SHAPES, {}, "image")
    assert not HEARING.search(sent[0])
    data = yaml.safe_load(out.read_text())
    assert data["neighbors"] == SHAPE_NEIGHBORS and data["card"]["modality"] == "image"
    exchange = json.loads((tmp_path / "neighbors.llm.json").read_text())
    assert exchange["requests"][0]["prompt"] == sent[0]
    assert data["card"]["requests"][0]["prompt"] == sent[0]
    # A rerun replays the cached reply: no request reaches the server.
    code, cap = run(monkeypatch, capsys, *args, "--force")
    assert code == 0, cap.err
    assert len(chat.requests) == 1 and "(1 from cache)" in cap.err
    # The same classes as sounds are another request, asked afresh (the image reply is not replayed).
    chat.script = [(200, json.dumps({c: [f"{w} hum" for w in ns] for c, ns in SHAPE_NEIGHBORS.items()}), 0)]
    audio_args = [a for a in args if a not in ("--modality", "image")] + ["--force"]
    code, cap = run(monkeypatch, capsys, *audio_args)
    assert code == 0, cap.err
    assert len(chat.requests) == 2 and chat.prompts()[1] == nb.build_prompt({c: 4 for c in SHAPES}, SHAPES, {})
    assert yaml.safe_load(out.read_text())["card"]["modality"] == "audio"


def test_image_prefixes_from_an_llm(chat, tmp_path, monkeypatch, capsys):
    templates = ["a photo of a {}.", "a sketch of the <class>.", "a blurry {} on a table."]
    chat.script = [(200, json.dumps({"templates": templates}), 0)]
    out = tmp_path / "prefixes.yaml"
    code, cap = run(monkeypatch, capsys, "prefixes", "--modality", "image", "--n", "3", *_llm_args(chat), "--out", out)
    assert code == 0, cap.err
    assert chat.prompts() == [px.build_prompt(3, [], "image")]
    loaded = px.load_prefixes(out)
    assert loaded.templates[1] == "a sketch of the {}." and loaded.modality == "image"


@pytest.fixture
def shapes_dataset(monkeypatch):
    """A registered dataset that holds images (what DatasetInfo.modality says once image datasets exist)."""
    info = SimpleNamespace(name="shapes", classes=SHAPES, modality="image", class_order=None)  # sorted base/new
    monkeypatch.setattr("septctl.sept_inputs.find_dataset", lambda name: info if name == "shapes" else None)
    monkeypatch.setattr("septctl.sept_inputs.require_dataset", lambda name, *_: info)
    return info


def test_neighbors_of_an_image_dataset_are_asked_as_pictures(chat, shapes_dataset, tmp_path, monkeypatch, capsys):
    chat.script = [(200, json.dumps({c: SHAPE_NEIGHBORS[c] for c in SHAPES}), 0)]
    out = tmp_path / "n.yaml"
    code, cap = run(monkeypatch, capsys, "neighbors", "shapes", "--split", "all", "--n", "4", *_llm_args(chat),
                    "--out", out)
    assert code == 0, cap.err
    assert chat.prompts() == [nb.build_prompt({c: 4 for c in SHAPES}, SHAPES, {}, "image")]
    assert yaml.safe_load(out.read_text())["card"]["modality"] == "image"
    code, cap = run(monkeypatch, capsys, "neighbors", "shapes", "--modality", "audio", *_llm_args(chat),
                    "--out", tmp_path / "other.yaml")
    assert code == 2 and "--modality audio: shapes holds image data; drop --modality" in cap.err
    assert not (tmp_path / "other.yaml").exists() and len(chat.requests) == 1


def test_grid_prefixes_follow_the_backbone_modality(tmp_path):
    from septctl.backbones.registry import SPECS, BackboneSpec, WeightsSource
    from septctl.grid.plan import prefixes_for

    clip = BackboneSpec("my-clip", "x:y", embed_dim=512, token_dim=512, sample_rate=0, clip_seconds=0, text_len=77,
                        source=WeightsSource("none"), modality="image", image_size=224)
    assert prefixes_for(tmp_path, clip) == (tmp_path / "prefixes-image.yaml", "image")
    assert prefixes_for(tmp_path, SPECS["pengi"]) == (tmp_path / "prefixes.yaml", "audio")


def test_grid_prep_on_an_image_backbone_writes_picture_templates(synth_dataset, tmp_path, monkeypatch, capsys):
    """grid-prep reads the backbone's spec: an image one gets the image bank, in its own file, and margins say
    when the model that computes them embeds something else (tiny, here posing as an image backbone's spec)."""
    import septctl.backbones.registry as registry

    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    image_tiny = dataclasses.replace(registry.SPECS["tiny"], modality="image", image_size=64)
    monkeypatch.setattr(registry, "get_spec", lambda name: image_tiny if name == "tiny" else registry.SPECS[name])
    sept = tmp_path / "sept"
    code, cap = run(monkeypatch, capsys, "grid-prep", synth_dataset, "--backbone", "tiny", "--sept-dir", sept)
    assert code == 0, cap.err
    assert not (sept / "prefixes.yaml").exists()
    data = yaml.safe_load((sept / "prefixes-image.yaml").read_text())
    assert data["prefixes"] == px.template_bank(100, modality="image") and data["card"]["modality"] == "image"
    assert "its templates are image templates, but tiny is an audio backbone" in cap.err
    assert list(sept.glob("*/margins-base-tiny.safetensors"))


def test_margins_warn_only_on_a_modality_mismatch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    neighbors = tmp_path / "n.yaml"
    neighbors.write_text(yaml.safe_dump({"neighbors": {c: SHAPE_NEIGHBORS[c] for c in SHAPES}}))
    for modality, warned in (("image", True), ("audio", False)):
        prefixes = tmp_path / f"p-{modality}.yaml"
        assert run(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--n", "2", "--modality", modality,
                   "--out", prefixes)[0] == 0
        code, cap = run(monkeypatch, capsys, "margins", "--neighbors", neighbors, "--prefixes", prefixes,
                        "--backbone", "tiny", "--out", tmp_path / f"m-{modality}.safetensors")
        assert code == 0, cap.err
        assert ("warning:" in cap.err) is warned, cap.err
        if warned:
            assert "run `septctl prefixes --llm builtin --modality audio`" in cap.err


def test_neighbor_stats_encode_with_a_photo_template_on_an_image_backbone(tmp_path, monkeypatch, capsys):
    import septctl.backbones
    import septctl.sept.stats as stats

    tiny = septctl.backbones.load_backbone("tiny")
    used = []
    monkeypatch.setattr(stats, "neighbor_stats", lambda *a, template, **k: used.append(template) or
                        SimpleNamespace(as_dict=dict))
    neighbors = tmp_path / "n.yaml"
    neighbors.write_text(yaml.safe_dump({"neighbors": {c: SHAPE_NEIGHBORS[c] for c in SHAPES}}))
    for modality, template in (("audio", "This is a sound of {}."), ("image", "a photo of a {}.")):
        monkeypatch.setattr(tiny, "modality", modality)
        monkeypatch.setattr(septctl.backbones, "load_backbone", lambda *a, **k: tiny)
        code, cap = run(monkeypatch, capsys, "neighbors", "stats", neighbors, "--backbone", "tiny", "--json")
        assert code == 0, cap.err
        assert used.pop() == template


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")))


@pytest.fixture(scope="module")
def image_bank() -> dict[str, dict[str, list[str]]]:
    return nb.load_bank(modality="image")


def test_image_neighbor_bank_holds_the_audio_banks_rules(image_bank):
    """tests/test_banks.py's rules, and stronger: no neighbor shares a word with another class's name, so no
    base/new split (by name or by CoOp's labels) leaks a new class into training."""
    for dataset, table in image_bank.items():
        classes = list(table)
        owner: dict[str, str] = {}
        for cls, names in table.items():
            assert len(names) == 10 and len({x.casefold() for x in names}) == 10, (dataset, cls)
            others = set().union(*(_words(o) for o in classes if o != cls))
            for name in names:
                assert name == name.strip() and name and len(name.split()) <= 5, (dataset, cls, name)
                assert nb.norm_name(name) not in {nb.norm_name(c) for c in classes}, (dataset, cls, name)
                assert not _words(name) & others, (dataset, cls, name, _words(name) & others)
                assert owner.setdefault(name.casefold(), cls) == cls, (dataset, name, owner[name.casefold()], cls)


def test_caltech101_neighbors_cover_coops_100_classes(image_bank):
    classes = list(image_bank["caltech101"])
    assert len(classes) == 100 and classes[:5] == ["face", "leopard", "motorbike", "accordion", "airplane"]
    assert {"car side", "water lilly", "yin yang"} <= set(classes)  # CoOp's names, "_" read as a space
    assert not {"background google", "faces easy", "faces", "airplanes"} & set(classes)  # left out, or renamed


def test_every_registered_image_dataset_is_in_the_image_bank(image_bank):
    from septctl.data.registry import DATASETS, SYNTH_DATASETS

    for d in DATASETS + SYNTH_DATASETS:
        if d.modality == "image":
            assert d.name in image_bank, d.name
            assert set(image_bank[d.name]) == set(d.classes), d.name


def test_image_neighbors_fit_clip_text_length(image_bank):
    from septctl.backbones.tokenizer import ClipTokenizer

    tokenizer = ClipTokenizer(77)
    names = {n for table in image_bank.values() for ns in table.values() for n in ns}
    templates = px.template_bank(100, modality="image")
    longest_template = max(templates, key=lambda t: len(tokenizer.ids(t.replace("{}", ""))))
    longest = max(len(tokenizer.ids(longest_template.replace("{}", n))) for n in names)
    assert longest <= 77 - 16  # room for 16 learned context tokens


def test_builtin_neighbors_for_image_classes_come_from_the_image_bank(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    classes = tmp_path / "classes.txt"
    classes.write_text("airplane\nCar_Side\nbrain\n")
    out = tmp_path / "n.yaml"
    code, cap = run(monkeypatch, capsys, "neighbors", "--classes", classes, "--modality", "image", "--llm", "builtin",
                    "--out", out)
    assert code == 0, cap.err
    data = yaml.safe_load(out.read_text())
    caltech = nb.load_bank(modality="image")["caltech101"]
    assert data["neighbors"] == {"Car_Side": caltech["car side"], "airplane": caltech["airplane"],
                                 "brain": caltech["brain"]}
    assert data["card"]["llm"]["bank_sha256"] == sha256_file(nb.bank_path("image"))
    # The same name as a sound is ESC-50's airplane, from the audio bank.
    assert nb.from_bank(["airplane"], 10) == {"airplane": nb.load_bank()["esc50"]["airplane"]}
    assert nb.from_bank(["airplane"], 10, modality="image") == {"airplane": caltech["airplane"]}
