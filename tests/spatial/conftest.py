"""Fixtures of the spatial tests: the real pedestrian crop from vtest.avi (see data/README.md), and a
synthetic video with its exact person tubes."""
from __future__ import annotations

import json
import pathlib

import cv2
import numpy as np
import pytest

DATA = pathlib.Path(__file__).resolve().parent / "data"
# Hand-labelled people in data/vtest_pedestrian.png (x1, y1, x2, y2).
PEDESTRIANS = np.array([[57, 78, 93, 157], [86, 57, 120, 135]], dtype=np.float64)


@pytest.fixture(scope="session")
def pedestrian_image() -> np.ndarray:
    """``uint8[210, 160, 3]`` RGB crop of vtest.avi frame 100 with two walking people."""
    img = cv2.imread(str(DATA / "vtest_pedestrian.png"), cv2.IMREAD_COLOR)
    assert img is not None, "tests/spatial/data/vtest_pedestrian.png is missing"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def synthetic_video(out: pathlib.Path, seed: int):
    """One 4 s, 10 fps synthetic video written to ``out``: ``(path, [Tube])`` with every generator
    person's exact boxes (0-based frames)."""
    from stvg.data.synthetic import generate
    from stvg.structures import Tube

    generate(str(out), num_videos=1, seed=seed, VIDEO_DURATION=4, VIDEO_FPS=10)
    (name, entry), = json.loads((out / "all_tubes.json").read_text()).items()
    gt = []
    for person in entry["people"].values():  # 1-based frame numbers -> 0-based
        frames = sorted(int(k) for k in person["bbox"])
        gt.append(Tube(np.array(frames) - 1, [person["bbox"][str(f)] for f in frames]))
    return str(out / "videos" / name), gt
