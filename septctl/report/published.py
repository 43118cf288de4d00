"""Published results to print beside septctl's own runs (`report --compare NAME`), never mixed into them.

PALM (Hanif et al., EMNLP 2024), from its repository's logs (asif-hanif/palm @ 6b069d2,
`logs/{zeroshot,coop,cocoop,palm}/accuracy.json`; notes/palm-results.md): all classes trained
and tested, 16 shots, Pengi, 50 epochs, SGD lr 0.05, batch 16, fold-averaged, seeds 0/1/2
(zero-shot: seed 0 only, prompt "The is a recording of {}." sic), audio cropped at random
also at test time. Accuracy in %.
"""

from __future__ import annotations

from statistics import mean, pstdev

from septctl.data.registry import find_dataset

# dataset (PALM's folder name) -> method -> per-seed accuracies (one value: zero-shot, seed 0)
PALM: dict[str, dict[str, tuple[float, ...]]] = {
    "Beijing-Opera": {"zeroshot": (28.81,), "coop": (93.23, 96.60, 96.19), "cocoop": (95.77, 98.30, 99.16),
                      "palm": (97.47, 90.66, 97.87)},
    "CREMA-D": {"zeroshot": (23.10,), "coop": (31.30, 41.97, 27.60), "cocoop": (25.39, 33.58, 31.56),
                "palm": (44.53, 35.80, 23.44)},
    "ESC50-Actions": {"zeroshot": (65.25,), "coop": (96.25, 94.00, 95.50), "cocoop": (97.00, 96.25, 96.50),
                      "palm": (97.00, 96.25, 96.50)},
    "ESC50": {"zeroshot": (49.65,), "coop": (94.10, 93.90, 93.45), "cocoop": (94.60, 93.70, 94.50),
              "palm": (95.60, 96.00, 96.20)},
    "GT-Music-Genre": {"zeroshot": (32.50,), "coop": (72.50, 69.50, 73.50), "cocoop": (75.00, 74.50, 76.00),
                       "palm": (79.00, 78.50, 82.50)},
    "NS-Instruments": {"zeroshot": (32.91,), "coop": (57.28, 55.62, 61.77), "cocoop": (59.96, 57.40, 64.38),
                       "palm": (63.94, 61.08, 66.48)},
    "RAVDESS": {"zeroshot": (12.22,), "coop": (38.49, 26.88, 34.22), "cocoop": (37.27, 43.99, 35.23),
                "palm": (45.62, 46.03, 46.23)},
    "SESA": {"zeroshot": (72.38,), "coop": (91.43, 89.52, 87.62), "cocoop": (83.81, 87.62, 89.52),
             "palm": (88.57, 91.43, 88.57)},
    "TUT2017": {"zeroshot": (24.35,), "coop": (63.91, 66.67, 65.25), "cocoop": (74.99, 72.15, 73.12),
                "palm": (79.59, 80.47, 77.29)},
    "UrbanSound8K": {"zeroshot": (53.49,), "coop": (76.00, 73.78, 76.66), "cocoop": (75.76, 77.84, 75.97),
                     "palm": (81.20, 80.37, 80.74)},
    "VocalSound": {"zeroshot": (41.97,), "coop": (71.62, 74.85, 66.42), "cocoop": (80.81, 78.25, 74.63),
                   "palm": (81.01, 81.68, 79.64)},
}
PALM_SOURCE = ("PALM's published numbers (Hanif et al., EMNLP 2024; its repository's logs): all classes, 16 shots, "
               "Pengi, seeds 0-2 (zero-shot: seed 0, prompt 'The is a recording of {}.'), random crops also at test "
               "time. Not septctl runs, and never part of septctl's averages.")
COMPARISONS = ("palm",)


def palm_cells(covered: set[str]) -> tuple[list[dict], list[str]]:
    """PALM's table as report cells (group = septctl's dataset name), the mean of the 11 last, and notes."""
    cells = []
    for folder, per_method in PALM.items():
        info = find_dataset(folder)
        group = info.name if info else folder
        for method, seeds in per_method.items():
            cells.append({"row": [method], "group": group, "acc": mean(seeds),
                          "sd": pstdev(seeds) if len(seeds) > 1 else None, "seeds": len(seeds)})
    for method in PALM["ESC50"]:
        cells.append({"row": [method], "group": f"Mean ({len(PALM)})",
                      "acc": mean(mean(per[method]) for per in PALM.values()), "sd": None, "seeds": None})
    shared = sorted(covered & {c["group"] for c in cells})
    notes = [PALM_SOURCE, "± is the spread over PALM's three seeds (population standard deviation)."]
    notes.append(f"Datasets also in septctl's table above: {', '.join(shared)}." if shared else
                 "None of the datasets in septctl's table above is one of PALM's: compare the protocol, not the numbers.")
    return cells, notes
