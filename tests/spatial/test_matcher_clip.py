"""Zero-shot CLIP backend through a tiny random CLIP model saved to disk and loaded back by name."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from spatial.matcher.clip_backend import OUTSIDE_PENALTY, ClipTubeMatcher, crop_plan
from stvg.structures import Tube


def _byte_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    d = tmp_path_factory.mktemp("tiny_clip")
    chars = _byte_alphabet()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = ["t h", "th e</w>", "r e", "re d</w>"]
    for m in merges:
        vocab["".join(m.split())] = len(vocab)
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    cfg = CLIPConfig(text_config=dict(small, vocab_size=len(tok), max_position_embeddings=16,
                                      bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"]),
                     vision_config=dict(small, image_size=32, patch_size=16), projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(d)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=ip, tokenizer=tok).save_pretrained(d)
    return str(d)


def _video(k=30, w=64, h=48, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(k, h, w, 3), dtype=np.uint8)


def test_crop_plan_samples_inside_the_window_and_clips_to_the_frame():
    t = Tube(np.arange(10, 30), np.tile([-5.0, 2, 20, 40], (20, 1)).clip(0))
    frames, boxes, inside = crop_plan(t, 4, (15, 20), 64, 48, 0.5)
    assert inside and frames.tolist() == [15, 17, 18, 20]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 64).all() and (boxes[:, 3] <= 48).all()
    _, _, inside = crop_plan(t, 4, (40, 45), 64, 48, 0.0)
    assert not inside


def test_clip_backend_scores_tubes_from_a_saved_model(clip_dir, caplog):
    clip = ClipTubeMatcher(clip_dir, device="cpu", crops_per_tube=3, batch_size=4)
    video = _video()
    reads = []

    def get_frames(idx):
        reads.append(list(idx))
        return video[idx]

    tubes = [Tube(np.arange(0, 20), np.tile([2, 2, 30, 40], (20, 1))),
             Tube(np.arange(5, 30), np.tile([30, 5, 60, 45], (25, 1))),
             Tube(np.arange(25, 30), np.tile([10, 10, 20, 20], (5, 1)))]
    s = clip.score_frames(tubes, get_frames, ["the red person", "a man"], 64, 48)
    assert s.shape == (2, 3) and ((s >= -1.001) & (s <= 1.001)).all()
    assert len(reads) == 1 and reads[0] == sorted(set(reads[0]))   # one sorted read for all crops
    # per tube = mean over its crops of the cosine; check tube 0 by hand
    fr, bx, _ = crop_plan(tubes[0], 3, None, 64, 48, clip.context)
    img = clip.encode_crops([video[f, y1:y2, x1:x2] for f, (x1, y1, x2, y2) in zip(fr, bx)])
    txt = clip.encode_sentences(["the red person"])
    torch.testing.assert_close(s[0, 0], (txt @ img.t()).mean(), rtol=1e-5, atol=1e-6)
    # window: the tube outside ranks below every tube inside
    w = clip.score_frames(tubes, get_frames, ["a man"], 64, 48, window=(0, 10))
    assert w[0, 2] < w[0, :2].min() and float(w[0, 2]) <= 1 - OUTSIDE_PENALTY
    assert clip.score_frames([], get_frames, ["a man"], 64, 48).shape == (1, 0)
    with pytest.raises(ValueError, match="empty"):
        clip.score_frames(tubes, get_frames, [" "], 64, 48)
    with caplog.at_level(logging.WARNING, logger="stvg.text"):
        clip.encode_sentences(["the " * 40])
    assert "truncated" in caplog.text


def test_clip_backend_names_what_it_cannot_load(tmp_path):
    with pytest.raises(OSError, match="CLIP.MODEL"):
        ClipTubeMatcher(str(tmp_path), device="cpu")   # an empty directory


def test_test_tool_runs_the_clip_backend_on_videos(clip_dir, tmp_path):
    import tools.test_matcher as test_tool
    from spatial.tubes import VideoTubes, write_tubes_json
    from stvg.video import write_video

    (tmp_path / "videos").mkdir()
    (tmp_path / "tubes").mkdir()
    ann = {}
    tubes = [Tube(np.arange(0, 20), np.tile([2, 2, 30, 40], (20, 1))),
             Tube(np.arange(0, 20), np.tile([32, 4, 62, 44], (20, 1)))]
    for i in range(2):
        vid = f"c{i}.mp4"
        write_video(str(tmp_path / "videos" / vid), _video(20, seed=i), 10.0)
        write_tubes_json(str(tmp_path / "tubes" / f"{vid}.json"),
                         VideoTubes(vid, 10.0, 20, 64, 48, 1, tubes if i == 0 else []))
        ann[vid] = {"caption": "the red person", "width": 64, "height": 48, "img_num": 20, "st_frame": 3,
                    "bbox": [[2, 2, 28, 38]] * 10, "duration": 2.0, "st_time": 0.2, "ed_time": 1.2}
    (tmp_path / "test.json").write_text(json.dumps(ann))
    out, pred = tmp_path / "m.json", tmp_path / "p.json"
    code = test_tool.main(["--backend", "clip", "--video-dir", str(tmp_path / "videos"), "--out", str(out),
                           "--predictions", str(pred), "--no-progress", "DATASET.TEST_ANN", str(tmp_path / "test.json"),
                           "DATASET.TUBES", str(tmp_path / "tubes"), "CLIP.MODEL", clip_dir, "DEVICE", "cpu"])
    assert code == 0
    m = json.load(open(out))
    assert m["backend"] == "clip" and m["num_videos"] == 2 and m["no_tubes"] == 1
    assert m["oracle_acc"] == 0.5                     # tube 0 is the target in video 0; video 1 has none
    preds = {p["video_id"]: p for p in json.load(open(pred))}
    assert sorted(preds["c0.mp4"]["ranking"]) == [0, 1] and preds["c1.mp4"]["reason"] == "no tubes"
