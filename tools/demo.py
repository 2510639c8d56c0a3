#!/usr/bin/env python
"""`make demo`: the main job, end to end, on what ships with the project.

Scores the shipped example submission (examples/example_pred.json) against its ground truth
(examples/example_gt.json) with the official HC-STVG metrics.
"""
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(REPO / "tools"))
    import evaluate_stvg

    print("Scoring the shipped example submission (3 made-up videos) with the official HC-STVG metrics:")
    return evaluate_stvg.main(["--pred", str(REPO / "examples" / "example_pred.json"),
                               "--gt", str(REPO / "examples" / "example_gt.json")])


if __name__ == "__main__":
    sys.exit(main())
