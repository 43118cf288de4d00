"""Class balance of a folder dataset's per-file split (septctl/data/audiofolder.py `hashed_split`).

For each class size, 200 classes named clsK with files clip_NNN.wav are split from scratch;
prints the share of files in test and the fewest and most test files a class got, and how
many classes got none (docs/reliability.md quotes this table).

    python benchmarks/split_balance.py
"""

from septctl.data.audiofolder import hashed_split

CLASSES = 200


def main() -> None:
    for n in (2, 3, 4, 5, 8, 10, 16, 20, 40, 100):
        rows = [(f"cls{k}/clip_{i:03d}.wav", f"cls{k}") for k in range(CLASSES) for i in range(n)]
        _, test = hashed_split(rows)
        per_class = {f"cls{k}": 0 for k in range(CLASSES)}
        for _, cls in test:
            per_class[cls] += 1
        counts = list(per_class.values())
        print(f"n={n:3d}: test share {len(test) / len(rows):.3f}  per class min {min(counts)} max {max(counts)}  "
              f"classes without test {counts.count(0)}")


if __name__ == "__main__":
    main()
