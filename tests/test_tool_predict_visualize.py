"""tools/visualize_predictions.py on a predicted synthetic set: the page parses, sorts worst first and
links only to files that exist; a missing video is listed, not fatal (exit 1)."""
import json
import pathlib
import shutil
import sys
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from tests.test_pipeline_tiny import annotations, build_model_file, spatial_cfg, synth_clips  # noqa: F401

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import predict_stvg  # noqa: E402
import visualize_predictions  # noqa: E402


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.rows, self._row, self._td = [], [], None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("a", "img"):
            self.refs.append(a.get("href") or a.get("src"))
        if tag == "tr":
            self._row = []
        if tag == "td":
            self._td = True
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._td = False
        if tag == "tr" and self._row:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._td:
            self._row[-1] += data


@pytest.fixture(scope="module")
def predicted(synth_clips, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("vis")
    model = build_model_file(root, scfg=spatial_cfg("DETECTION.STRIDE", "4"))
    ann = root / "ann.json"
    ann.write_text(json.dumps(annotations(synth_clips)))
    out = root / "sub.json"
    assert predict_stvg.main(["--ann", str(ann), "--video-dir", str(synth_clips / "videos"), "--out", str(out),
                              "--model", model, "--device", "cpu", "--no-progress"]) == 0
    return root, ann, out, synth_clips / "videos"


def test_report_links_exist_and_sorted_worst_first(predicted, tmp_path):
    root, ann, sub, videos = predicted
    out = tmp_path / "vis"
    assert visualize_predictions.main(["--pred", str(sub), "--gt", str(ann), "--video-dir", str(videos),
                                       "--out", str(out), "--format", "gif"]) == 0
    page = Page()
    page.feed((out / "index.html").read_text())
    assert len(page.rows) == 3
    vious = [float(r[4]) for r in page.rows]
    assert vious == sorted(vious)
    assert page.refs and all((out / unquote(r)).is_file() for r in page.refs), page.refs
    kinds = {pathlib.Path(unquote(r)).parts[0] for r in page.refs}
    assert {"overlays", "sheets", "thumbs", "maps", "viou_hist.png"} <= kinds


def test_missing_video_is_listed_and_exit_1(predicted, tmp_path, capsys):
    root, ann, sub, videos = predicted
    some = tmp_path / "videos"
    some.mkdir()
    names = sorted(p.name for p in videos.iterdir())
    for name in names[1:]:
        shutil.copy(videos / name, some / name)
    out = tmp_path / "vis"
    assert visualize_predictions.main(["--pred", str(sub), "--gt", str(ann), "--video-dir", str(some), "--out",
                                       str(out), "--details", str(tmp_path / "none")]) == 1
    assert names[0] in json.loads((out / "failures.json").read_text())
    page = Page()
    page.feed((out / "index.html").read_text())
    assert len(page.rows) == 3 and all((out / unquote(r)).is_file() for r in page.refs)
    assert not (out / "maps").exists()  # no part files given: no score maps


def test_bad_prediction_file_exits_2(predicted, tmp_path, capsys):
    root, ann, sub, videos = predicted
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x.mp4": {"st_frame": 5, "ed_frame": 2, "bbox": {}}}))
    assert visualize_predictions.main(["--pred", str(bad), "--gt", str(ann), "--video-dir", str(videos),
                                       "--out", str(tmp_path / "v")]) == 2
    assert "bad.json" in capsys.readouterr().err
