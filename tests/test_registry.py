import json

from septctl.data.registry import DATASETS, find_dataset
from septctl.data.schema import base_new_split

EXPECTED = {  # name: (classes, folds, base count)  -- paper Table 5, PALM's folds; Caltech101: paper Table 11, CoOp
    "beijing-opera": (4, 5, 2), "caltech101": (100, 1, 50), "crema-d": (6, 1, 3), "esc50": (50, 5, 25), "esc50-actions": (10, 5, 5),
    "gt-music-genre": (10, 1, 5), "ns-instruments": (10, 1, 5), "ravdess": (8, 1, 4), "sesa": (4, 1, 2),
    "tut2017": (15, 4, 8), "urbansound8k": (10, 10, 5), "vocalsound": (6, 1, 3),
}


def test_twelve_datasets_with_paper_counts():
    assert {d.name: (len(d.classes), d.folds, len(d.base)) for d in DATASETS} == EXPECTED


def test_base_new_split_sorted_first_half():
    tut = find_dataset("tut2017")
    assert len(tut.base) == 8 and len(tut.new) == 7
    assert tut.base[-1] == "home" and tut.new[0] == "library"
    assert find_dataset("ravdess").base == ["angry", "calm", "disgust", "fearful"]
    assert find_dataset("vocalsound").base == ["Cough", "Laughter", "Sigh"]  # case-sensitive sort, names verbatim
    assert base_new_split(["b", "c", "a"]) == (["a", "b"], ["c"])


def test_aliases_resolve():
    assert find_dataset("GTZAN").name == "gt-music-genre"
    assert find_dataset("UrbanSound8K").name == "urbansound8k"
    assert find_dataset("nope") is None


def test_data_list_json(run_cli):
    code, out, _ = run_cli("data", "list", "--json")
    assert code == 0
    data = json.loads(out)
    assert [len(d["classes"]) for d in data] == [4, 100, 6, 50, 10, 10, 10, 8, 4, 15, 10, 6]
    assert [d["folds"] for d in data] == [5, 1, 1, 5, 5, 1, 1, 1, 1, 4, 10, 1]
    assert [d["name"] for d in data if d["modality"] == "image"] == ["caltech101"]
    assert all({"name", "classes", "folds", "base", "new"} <= d.keys() for d in data)


def test_each_dataset_is_declared_once_by_its_release_module():
    """registry.py only collects: every table about datasets derives from the release modules' DATASETS."""
    import subprocess
    import sys

    from septctl.data import download, registry

    declared = [d for m in registry.RELEASE_MODULES for d in m.DATASETS]
    assert len(declared) == len({d.name for d in declared}) == len(DATASETS) == 12
    assert set(registry.PREPARERS) == {d.name for d in declared}
    assert all(d in registry.PREPARERS[d.name].DATASETS for d in DATASETS)
    assert download.PALM_TEST_SIZES == {d.name: d.palm_test_sizes for d in declared}
    assert download.RELEASES == {d.name: d.release for d in declared}
    assert all(len(d.palm_test_sizes) == d.folds for d in declared if d.hf_repo)  # PALM published audio ones only
    for first in ("septctl.data.registry", "septctl.data.preparers.esc50", "septctl.data.layout", "septctl.data.prepare"):
        probe = f"import {first}, septctl.data.registry as r; assert len(r.DATASETS) == 12"
        assert subprocess.run([sys.executable, "-c", probe]).returncode == 0, first  # no import cycle, whatever comes first
