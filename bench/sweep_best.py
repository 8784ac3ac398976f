#!/usr/bin/env python3
# usage: bench/sweep_best.py OUT.csv ROUND1.csv ROUND2.csv ...
# Best of several sweep CSVs (same points): per point, the training columns of the round with the
# highest training images/s and the inference columns of the round with the highest inference images/s.
import csv, sys
out, files = sys.argv[1], sys.argv[2:]
rounds = [list(csv.DictReader(open(f))) for f in files]
cols = list(rounds[0][0].keys())
rows = []
for same in zip(*rounds):
    row = dict(same[0])
    for mode in ("train", "infer"):
        best = max(same, key=lambda r: float(r[f"{mode}_images_per_s"]))
        for c in cols:
            if c.startswith(mode + "_"): row[c] = best[c]
    rows.append(row)
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, cols); w.writeheader(); w.writerows(rows)
