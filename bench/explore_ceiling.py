#!/usr/bin/env python3
"""The highest explore `frame` accuracy any model can reach, per prompt history.

Reads the samples.jsonl of `emu world sample --task explore` and, for each step, counts
the cells of the new view that none of the last H prompt frames shows. The best guess for
such a cell is "empty" (a cell holds an object with probability world_density = 0.3), so a
frame is reachable exactly when none of its unseen cells holds an object.

    build/emu world sample --task explore --n 500 --seed 9000004 --out /tmp/explore
    /usr/bin/python3 bench/explore_ceiling.py /tmp/explore/samples.jsonl
"""
import json
import sys


def view_cells(x, y, cols, rows):
    return {(x + c, y + r) for c in range(cols) for r in range(rows)}


def main(path):
    samples = [json.loads(line) for line in open(path)]
    samples = [s for s in samples if s["task"] == "explore"]
    if not samples:
        sys.exit(f"{path}: no explore samples")
    for history in (1, 2, 3, None):
        reach = {"all": [0, 0], "revisit": [0, 0], "new": [0, 0]}
        for s in samples:
            truth = s["truth"]
            views = truth["viewports"]
            occupied = {(o["col"], o["row"]) for o in truth["world"]["objects"]}
            for k, frame in enumerate(s["outputs"]):
                cols, rows = frame["scene"]["cols"], frame["scene"]["rows"]
                shown = views[: k + 1] if history is None else views[max(0, k + 1 - history): k + 1]
                visible = set().union(*(view_cells(x, y, cols, rows) for x, y in shown))
                unseen = view_cells(*views[k + 1], cols, rows) - visible
                ok = not (unseen & occupied)
                for key in ("all", "revisit" if truth["revisit"][k] else "new"):
                    reach[key][0] += ok
                    reach[key][1] += 1
        name = "every earlier frame" if history is None else f"history {history}"
        parts = ", ".join(f"{k} {100 * a / max(b, 1):.1f}% of {b}" for k, (a, b) in reach.items())
        print(f"{name}: reachable frame accuracy {parts}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
