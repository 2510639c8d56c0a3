"""Fixtures of the spatial tests: the real pedestrian crop from vtest.avi (see data/README.md)."""
from __future__ import annotations

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
