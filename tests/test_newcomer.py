"""The README's own-folder flow as a newcomer walks it (issue 33, "Must show").

Nine classes of their own (mono WAV, and one class of 48 kHz stereo FLAC), ten training clips each (fewer
than the default 16 shots), no --backbone anywhere: SEPTCTL_BACKBONE=synth-clap, the shipped trained model,
is the default of every command. Each step is checked for what it says: the clips actually used (item 2),
the runs a report leaves out (item 3), where `grid` looks for neighbors and how to let it ask an LLM (item 5),
a run that learned nothing (item 7), and the `next:` lines. The sounds come from synth-clap's world under
names that no shipped neighbor bank holds, as a user's own would.

The last step, `eval` of three seeds in one call, needs `eval` to take several runs (issue 33, item 1).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.test_next_step import terminal  # noqa: F401 (a fixture: the next: lines are for a terminal)

CLASSES = ["falling buzzer", "fast bell", "fast hiss", "high buzzer", "low knock", "noisy whistle", "rising bell",
           "slow hiss", "steady whistle"]
BASE = CLASSES[:5]  # sorted, the first ceil(9/2)
EPOCHS = "5"  # the newcomer's 50 would only make the test slower


def _folder(root: Path, related: bool = True) -> Path:
    """ROOT/{train,test}/<class>/<clip>: 10 training and 4 test clips per class. `related=False`: every clip a
    random sound, whatever its folder says (labels that cannot be learned)."""
    import soundfile as sf

    from septctl.data import world

    for c, cls in enumerate(CLASSES):
        attributes = world.parse_name(cls) if related else {}
        for s, (split, count) in enumerate((("train", 10), ("test", 4))):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                rng = np.random.default_rng([33, c, s, i])
                x = world.render(world.random_sound(rng, attributes), rng)
                x = x + 0.4 * world.render(world.random_sound(rng), rng)
                x = (0.5 * x / np.abs(x).max()).astype(np.float32)
                if cls == "rising bell":  # a phone recording: 48 kHz stereo FLAC
                    x = np.repeat(x, 3)
                    sf.write(folder / f"{i:03d}.flac", np.stack([x, 0.8 * x], axis=1), 48000)
                else:
                    sf.write(folder / f"{i:03d}.wav", x, world.SR)
    return root


def _said(text: str) -> str:
    return " ".join(text.split())  # messages wrap at the console's width


def _run_folders(err: str) -> list[str]:
    return re.findall(r"run folder: (\S+)", err)


@pytest.mark.slow
def test_the_own_folder_flow_with_a_newcomers_defaults(run_cli, terminal, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEPTCTL_BACKBONE", "synth-clap")
    _folder(tmp_path / "words")

    code, out, err = run_cli("data", "check", "words")
    assert code == 0, err
    assert "clip length 1 s" in out and "synth-clap's" in out and "next: septctl embed words\n" in err

    code, out, err = run_cli("embed", "words")
    assert code == 0 and "next: septctl train words" in err, err

    code, out, err = run_cli("eval", "--zeroshot", "words", "--classes", "base")
    assert code == 0 and "accuracy" in out, err

    # item 2: 16 shots asked, 10 clips per class used, said when training starts
    code, out, err = run_cli("train", "words", "--seeds", "0,1,2", "--epochs", EPOCHS)
    said = _said(err)
    assert code == 0, err
    assert (f"coop on words: 5 classes ({', '.join(BASE)}), 10 clips each: fewer than --shots 16 in every class, "
            "so all they have; 50 in all") in said
    assert "warning:" not in err  # these runs learn
    seeds = _run_folders(err)
    assert len(seeds) == 3

    code, out, err = run_cli("train", "words", "--shots", "8", "--epochs", EPOCHS)
    assert code == 0 and "8 clips each, 40 in all" in _said(err) and "next: septctl eval" in err, err
    (eight,) = _run_folders(err)
    assert run_cli("eval", eight)[0] == 0

    # item 3: the 8-shot run is not in the default (16-shot) table, and report says so
    code, out, err = run_cli("report", "runs")
    assert code == 0, err
    assert f"left out 1 run (8-shot): {eight}; --shots 8 (or --table shots) shows them" in _said(err)

    # item 7: labels that do not match the sounds; the end of train says so, and report marks the run
    _folder(tmp_path / "mixed", related=False)
    code, out, err = run_cli("train", "mixed", "--epochs", "1")
    said = _said(err)
    assert code == 0, err
    (mixed,) = _run_folders(err)
    assert f"warning: {mixed}: final training loss" in said and "is above chance (ln 5 = 1.609)" in said
    assert run_cli("eval", mixed)[0] == 0
    code, out, err = run_cli("report", mixed)
    assert code == 0 and "!" in out and "1 run learned nothing" in err

    # item 5: grid on classes no bank holds names the file it reads and the option that asks an LLM
    code, out, err = run_cli("grid", "base2new", "words", "--quick", "--methods", "coop")
    said = _said(err)
    named = re.search(r"sept/(words-[0-9a-f]{8})/neighbors-base\.yaml", said)  # a folder's label: NAME-ID8
    assert code == 2 and named and "--llm MODEL" in said, err
    code, out, err = run_cli("grid", "--help")
    assert "--llm" in out and "--base-url" in out and "--api-key-env" in out
    hand = Path(named.group(0))
    hand.write_text("neighbors:\n" + "".join(f"  {c}: [{', '.join(_neighbors(c))}]\n" for c in BASE))
    code, out, err = run_cli("grid", "base2new", "words", "--quick", "--methods", "coop")
    assert code == 0, err
    assert "base2new: ran 4 jobs" in err and "Base-to-new generalization" in out and "coop + SEPT" in out
    assert "next: septctl report runs --table b2n" in err

    code, out, err = run_cli("plot", "results", "runs")
    assert code == 0 and Path("figures/results.png").is_file(), err

    # item 1 (identity's part): the three seeds scored in one call, and what comes next
    code, out, err = run_cli("eval", *seeds)
    assert code == 0, err
    assert out.count("words/fold0/base") == 3 and "next: septctl report" in err


def _neighbors(cls: str) -> list[str]:
    """Ten other phrases of the synth world's words for a class, as a newcomer would write them by hand."""
    from septctl.data import world

    attributes = world.parse_name(cls)
    words = [world.WORDS[a][v] for a, v in attributes.items()]
    phrases = [f"{a} {b}" if len(words) == 2 else a for a in words[0] for b in (words[1] if len(words) == 2 else [""])]
    return [p.strip() for p in phrases if p.strip() != cls][:10]
