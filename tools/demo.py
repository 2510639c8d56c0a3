#!/usr/bin/env python
"""`make demo`: the main job on what ships with the project, offline, on a CPU, in about two minutes.

1. Generates a small synthetic HC-STVG-format set with a fixed seed and the generator's default
   settings (cartoon people acting in time spans, exact ground truth; docs/synthetic.md) into
   ``outputs/demo`` (resumes if already there).
2. Grounds the sentence of its first video with the shipped model (``models/stvg_synthetic.pth``,
   trained by ``make model`` on synthetic data only): prints the interval, the score and the vIoU
   against the clip's ground truth, writes the overlay picture and the MMN score map.
3. Predicts every video of the set to a challenge submission (``outputs/demo/submission.json``)
   and prints its official metrics beside the reference baselines.

These numbers show that the system works and learns on synthetic data; they are never HC-STVG
results (docs/demo_model.md says what the shipped model is and is not).
"""
import os
import sys
import time

from stvg.cli import fail, RESUMES, tool_main, tool_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5")


def _forget_other_models_predictions(sub: str, model: str) -> None:
    """The demo's submission resumes for the same model file; one left by another model file (after
    ``make model``) is removed with its parts folder, and the file's hash recorded for next time."""
    import shutil

    from stvg.io import atomic_write_text
    from stvg.model_file import file_sha256

    digest = file_sha256(model)
    marker = sub + ".model_sha256"
    old = open(marker).read().strip() if os.path.isfile(marker) else None
    if old != digest and (os.path.exists(sub) or os.path.exists(sub + ".parts")):
        print(f"      {sub} was made with another model file: predicting again", flush=True)
        shutil.rmtree(sub + ".parts", ignore_errors=True)
        if os.path.exists(sub):
            os.remove(sub)
    atomic_write_text(marker, digest + "\n")


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    ap = tool_parser(__doc__, config=False, overrides=False, device=False)
    ap.add_argument("--out", default=os.path.join(REPO, "outputs", "demo"))
    ap.add_argument("--model", default=os.path.join(REPO, "models", "stvg_synthetic.pth"))
    ap.add_argument("--num-videos", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--device", default="cpu", help="auto (CUDA when available), cpu, cuda, cuda:N")
    ap.set_defaults(log_level="WARNING")
    a = ap.parse_args(argv)
    if a.num_videos < 1:
        ap.error("--num-videos must be >= 1")
    # every input checked before any work or output (stvg.cli.tool_main: one line, exit 2)
    from stvg.engine import resolve_device

    device = resolve_device(a.device)
    if not os.path.isfile(a.model):
        fail(f"model file not found: {a.model} (make model builds it)")
    if os.path.exists(a.out) and not os.path.isdir(a.out):
        fail(f"--out {a.out} exists and is not a folder")
    t0 = time.perf_counter()
    from stvg.data import load_hcstvg
    from stvg.data.synthetic import baselines, generate
    from stvg.engine import setup_cli_logging
    from stvg.evaluation import evaluate
    from stvg.io import read_json
    from stvg.pipeline import STVGPredictor, predict_dataset
    from stvg.submission import read_submission
    from stvg.visualize import (Timeline, answer_frames, result_score_map, save_image, stack_images,
                                tile_images)
    from stvg.video import VideoReader

    setup_cli_logging(a.log_level)
    print(f"[1/3] {a.num_videos} synthetic videos (seed {a.seed}, default settings) in {a.out}", flush=True)
    report = generate(a.out, a.num_videos, seed=a.seed, progress=False)
    print(f"      {report.summary()}")
    gt_raw, videos = {}, {}
    for split in ("train", "val", "test"):
        path = os.path.join(a.out, f"{split}.json")
        if os.path.isfile(path):
            gt_raw.update(read_json(path, f"synthetic {split} split"))
            videos.update(load_hcstvg(path, strict=True)[0])
    predictor = STVGPredictor.from_file(a.model, device=device)

    vid = sorted(videos)[0]
    ann = videos[vid]
    path = os.path.join(a.out, "videos", vid)
    print(f"[2/3] {vid}: \"{ann.sentence}\"", flush=True)
    r = predictor(path, ann.sentence)
    one = evaluate({vid: r.entry()}, {vid: gt_raw[vid]}) if r.found else {"m_vIoU": 0.0, "m_tIoU": 0.0}
    g = ann.segment
    print(f"      answer {r.segment.start:.2f}-{r.segment.end:.2f} s (frames {r.frames[0]}..{r.frames[1]}), "
          f"score {r.score:.3f}; ground truth {g.start:.2f}-{g.end:.2f} s; "
          f"vIoU {one['m_vIoU']:.3f}, tIoU {one['m_tIoU']:.3f}" + ("" if r.found else f" ({r.reason})"))
    reader = VideoReader(path)
    lo, hi = max(0, r.frames[0] - 5), min(reader.num_frames - 1, r.frames[1] + 5)
    idx = sorted({int(round(lo + k * (hi - lo) / 7)) for k in range(8)})
    timeline = Timeline(reader.duration, pred=r.segment.as_tuple(), gt=(g.start, g.end), section=r.section)
    frames = answer_frames(reader.get_frames(idx), idx, reader.fps, r.tube, ann.tube, r.query, timeline,
                           f"vIoU {one['m_vIoU']:.2f}")
    smap = result_score_map(r.score_map, r.score_mask, r.windows, r.segment.as_tuple(), gt_segment=(g.start, g.end),
                            title="MMN score map")
    pic, smap_path = os.path.join(a.out, "demo_answer.jpg"), os.path.join(a.out, "demo_scoremap.png")
    save_image(pic, stack_images([tile_images(frames, cols=4, thumb_width=320)], axis=0))
    save_image(smap_path, smap)
    print(f"      picture: {pic}\n      score map: {smap_path}")

    sub = os.path.join(a.out, "submission.json")
    print(f"[3/3] predicting all {len(videos)} videos -> {sub}", flush=True)
    _forget_other_models_predictions(sub, a.model)
    summary = predict_dataset(predictor, [(v, videos[v].sentence) for v in sorted(videos)], sub,
                              video_paths={v: os.path.join(a.out, "videos", v) for v in videos}, progress=True)
    if summary.failures:
        print(f"      {len(summary.failures)} video(s) failed: {summary.message()}")
    ours = evaluate(read_submission(sub), gt_raw)
    how = "tubes' span-head runs x matcher x MMN" if predictor.join.SPAN_MODE == "runs" else "MMN span x matched tube"
    rows = {f"shipped model ({how})": ours}
    for name in baselines.BASELINES:
        runs = [evaluate(baselines.baseline_predictions(name, gt_raw, read_json(os.path.join(a.out, "all_tubes.json")),
                                                        seed=s), gt_raw)
                for s in range(5 if name in baselines.RANDOM_BASELINES else 1)]
        rows[f"baseline: {name}"] = {k: sum(x[k] for x in runs) / len(runs) for k in KEYS}
    print(f"      official metrics on {ours['num_videos']} synthetic videos (%):")
    print(f"      {'':42s} " + " ".join(f"{k:>9s}" for k in KEYS))
    for name, m in rows.items():
        print(f"      {name:42s} " + " ".join(f"{100 * m[k]:9.1f}" for k in KEYS))
    print(f"done in {time.perf_counter() - t0:.0f} s (synthetic data: shows the system works, not HC-STVG accuracy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
