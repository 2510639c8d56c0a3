"""A tiny synthetic dataset shared by the synth tests (3 short clips, generated once per session)."""
import pytest

from stvg.data.synthetic import generate

TINY = dict(VIDEO_DURATION=4.0, VIDEO_FPS=5.0, VIDEO_WIDTH=320, VIDEO_HEIGHT=180)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    report = generate(str(out), 3, seed=11, **TINY)
    assert not report.failures, report.failures
    return out


@pytest.fixture(scope="session")
def tiny_annotations(tmp_path_factory):
    """Annotations only (no videos), more of them: for checks over many sentences."""
    out = tmp_path_factory.mktemp("synth_ann") / "data"
    report = generate(str(out), 24, seed=5, write_videos=False)
    assert not report.failures, report.failures
    return out
