import numpy as np
import pytest

from stvg.video import VideoReader, VideoReadError, sample_indices, write_video


def test_reader_metadata_and_frames(make_video):
    frames = np.zeros((25, 48, 64, 3), dtype=np.uint8)
    frames[:] = (np.arange(25) * 10)[:, None, None, None]
    path = make_video("gray.mp4", frames=frames, fps=12.5)
    r = VideoReader(path)
    assert r.num_frames == 25 and r.fps == pytest.approx(12.5)
    assert r.size == (64, 48) and r.duration == pytest.approx(2.0)
    got = r.get_frames([0, 7, 24])
    assert got.shape == (3, 48, 64, 3) and got.dtype == np.uint8
    assert np.abs(got[:, 10, 10, 0].astype(int) - [0, 70, 240]).max() <= 4  # lossy codec
    assert r.get_frames([]).shape == (0, 48, 64, 3)
    with pytest.raises(IndexError, match="out of range"):
        r.get_frames([25])


def test_sampling_at_target_fps(make_video):
    r = VideoReader(make_video(num_frames=30, fps=10))
    assert r.sample_indices(5).tolist() == list(range(0, 30, 2))
    idx, frames = r.read_at_fps(2)
    assert idx.tolist() == [0, 5, 10, 15, 20, 25] and frames.shape[0] == 6
    # 29.97 fps -> 1 fps picks the frame shown at each whole second
    assert sample_indices(300, 29.97, 1.0)[:3].tolist() == [0, 29, 59]
    assert sample_indices(30, 10, 5, start=1.0, end=2.0).tolist() == [10, 12, 14, 16, 18]


def test_missing_corrupt_and_truncated(tmp_path, make_video):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 200)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        VideoReader(bad)
    good = make_video(num_frames=40).read_bytes()
    for cut in (len(good) // 3, len(good) - 200):
        trunc = tmp_path / f"trunc{cut}.mp4"
        trunc.write_bytes(good[:cut])
        with pytest.raises(VideoReadError, match=trunc.name):
            r = VideoReader(trunc)
            r.get_frames(range(r.num_frames))


def test_write_video_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(str(tmp_path / "x.mp4"), np.zeros((2, 5, 6, 3), np.uint8), 10)
    with pytest.raises(ValueError, match="uint8"):
        write_video(str(tmp_path / "x.mp4"), np.zeros((2, 4, 6, 3), np.float32), 10)


def test_truncated_faststart_file(tmp_path):
    """moov atom first, so the container opens; the stream itself is cut."""
    import av

    frames = (np.random.RandomState(0).rand(30, 48, 64, 3) * 255).astype(np.uint8)
    full = tmp_path / "faststart.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match="cut.mp4") as info:
        r = VideoReader(cut)
        r.get_frames(range(r.num_frames))
    assert "/github/" not in str(info.value)


def test_write_mkv(make_video):
    r = VideoReader(make_video("clip.mkv", num_frames=12, fps=6))
    assert r.num_frames == 12 and r.fps == pytest.approx(6)
