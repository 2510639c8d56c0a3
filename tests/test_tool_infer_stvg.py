"""tools/infer_stvg.py and tools/make_model_file.py through their command lines (tiny random model)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch

from tests.test_pipeline_tiny import annotations, build_model_file, save_runs, synth_clips, tiny_model  # noqa: F401

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import infer_stvg  # noqa: E402
import make_model_file  # noqa: E402


@pytest.fixture(scope="module")
def clip(synth_clips):  # noqa: F811
    vid, entry = next(iter(annotations(synth_clips).items()))
    return str(synth_clips / "videos" / vid), entry["caption"], vid


def test_make_model_file_command_line(tmp_path):
    from stvg.model_file import read_model_file

    tdir, mdir = save_runs(tmp_path)
    feats, spatial = tmp_path / "f.yaml", tmp_path / "s.yaml"
    feats.write_text("BACKBONE: {NAME: resnet18, WEIGHTS: none}\nINPUT: {SAMPLE_FPS: 5.0, RESIZE: 64}\n"
                     "ROI: {NUM_SEGMENTS: 4}\n")
    spatial.write_text("DETECTOR: {NAME: hog, HOG: {UPSCALE: 1.5}}\nDETECTION: {STRIDE: 2, CACHE_DIR: cache}\n")
    out = tmp_path / "m.pth"
    args = ["--temporal", str(tdir), "--matcher", str(mdir), "--features-config", str(feats), "--spatial-config",
            str(spatial), "--join", "TUBE_COVERAGE", "cut", "--clip-seconds", "4", "--out", str(out)]
    assert make_model_file.main(args) == 0
    data = read_model_file(str(out))
    assert data["join"]["TUBE_COVERAGE"] == "cut" and data["spatial"]["config"]["DETECTION"]["CACHE_DIR"] == ""
    assert data["sources"]["features_config"]["path"] == str(feats)
    assert make_model_file.main(args[:-1] + [str(tmp_path / "m.txt")]) == 2
    assert make_model_file.main(["--temporal", str(tmp_path / "none"), *args[2:]]) == 2
    bad = args.copy()
    bad[bad.index("cut")] = "trim"
    assert make_model_file.main(bad) == 2
    # no --clip-seconds and a training annotation file that is not here: a clear error
    assert make_model_file.main([a for a in args if a not in ("--clip-seconds", "4")]) == 2


def test_infer_writes_json_and_pictures(tiny_model, clip, tmp_path, capsys):  # noqa: F811
    from stvg.submission import validate
    from stvg.video import VideoReader

    video, query, vid = clip
    out, vis = tmp_path / "r.json", tmp_path / "r.mp4"
    code = infer_stvg.main(["--video", video, "--query", query, "--model", tiny_model, "--device", "cpu",
                            "--out", str(out), "--vis", str(vis), "--top-k", "2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "interval" in text and "seconds: decode" in text and "total" in text
    res = json.loads(out.read_text())
    assert res["video_id"] == vid and res["query"] == query and len(res["alternatives"]) <= 2
    assert validate(res["challenge_entry"], gt=[vid]) == []
    assert res["model"] == os.path.abspath(tiny_model)
    assert VideoReader(str(vis)).num_frames == 20 and (tmp_path / "r.scoremap.png").stat().st_size > 0
    jpg = tmp_path / "r.jpg"
    assert infer_stvg.main(["--video", video, "--query", query, "--query", "a person", "--model", tiny_model,
                            "--device", "cpu", "--vis", str(jpg), "--start", "1", "--end", "3"]) == 0
    assert (tmp_path / "r.0.jpg").exists() and (tmp_path / "r.1.jpg").exists()


def test_infer_as_a_program(tmp_path):
    """The script runs as a program: exit status and message of a bad input (cheap: it stops before
    importing the stages); the full work goes through main() above."""
    p = subprocess.run([sys.executable, str(REPO / "tools" / "infer_stvg.py"), "--video", str(tmp_path / "v.mp4"),
                        "--query", "a man", "--model", str(tmp_path / "m.pth")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "video file not found" in p.stderr and p.stdout == ""


def test_infer_bad_inputs_exit_2(tiny_model, clip, tmp_path, make_video, capsys):  # noqa: F811
    video, query, _ = clip
    base = ["--model", tiny_model, "--device", "cpu"]

    def run(*args):
        code = infer_stvg.main(list(args) + base)
        return code, capsys.readouterr().err

    code, err = run("--video", str(tmp_path / "nope.mp4"), "--query", query)
    assert code == 2 and "nope.mp4" in err
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 200)
    code, err = run("--video", str(broken), "--query", query)
    assert code == 2 and "broken.mp4" in err
    code, err = run("--video", video, "--query", "  ")
    assert code == 2 and "empty" in err
    code, err = run("--video", video, "--query", query, "--vis", str(tmp_path / "x.bmp"))
    assert code == 2 and "unknown file type" in err
    code, err = run("--video", video, "--query", query, "--out", str(tmp_path))
    assert code == 2 and "--out" in err
    code, err = run("--video", video, "--query", query, "--join", "TOP_MOMENTS", "0")
    assert code == 2 and "TOP_MOMENTS" in err
    ckpt = tmp_path / "ckpt.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "config": {}}, str(ckpt))
    code = infer_stvg.main(["--video", video, "--query", query, "--model", str(ckpt), "--device", "cpu"])
    assert code == 2 and "not a model file" in capsys.readouterr().err
    from stvg.model_file import read_model_file
    newer = tmp_path / "newer.pth"
    torch.save({**read_model_file(tiny_model), "format_version": 99}, str(newer))
    code = infer_stvg.main(["--video", video, "--query", query, "--model", str(newer), "--device", "cpu"])
    assert code == 2 and "format_version 99" in capsys.readouterr().err
    code = infer_stvg.main(["--video", video, "--query", query, "--model", str(tmp_path / "absent.pth")])
    assert code == 2 and "model file not found" in capsys.readouterr().err
    if not torch.cuda.is_available():
        code = infer_stvg.main(["--video", video, "--query", query, "--model", tiny_model, "--device", "cuda"])
        assert code == 2 and "CUDA is not available" in capsys.readouterr().err


def test_infer_no_person_exits_0_with_the_reason(tiny_model, make_video, tmp_path, capsys):  # noqa: F811
    video = make_video("square.mp4", num_frames=15, fps=5.0, size=(96, 64))
    out = tmp_path / "r.json"
    assert infer_stvg.main(["--video", str(video), "--query", "a man", "--model", tiny_model, "--device", "cpu",
                            "--out", str(out), "--vis", str(tmp_path / "r.png")]) == 0
    assert "no person detected" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["found"] is False and res["tube"]["boxes"] == [] and "no person" in res["reason"]
    assert res["challenge_entry"]["square.mp4"]["bbox"] == {}


def test_infer_video_shorter_than_one_clip_exits_2(tmp_path, make_video, capsys):
    from tests.test_pipeline_tiny import features_cfg

    model = build_model_file(tmp_path, fcfg=features_cfg("CLIPS.LEN", "4"))
    short = make_video("short.mp4", num_frames=1, fps=25.0, size=(96, 64))
    assert infer_stvg.main(["--video", str(short), "--query", "a man", "--model", model, "--device", "cpu"]) == 2
    assert "one feature clip needs 4" in capsys.readouterr().err
