"""Pictures: answer overlays, overlay files, score maps, histograms, the HTML report."""
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from stvg.structures import Tube
from stvg.visualize import (GT_COLOUR, PRED_COLOUR, Timeline, draw_answer, histogram_image, score_cell,
                            score_map_image, stack_images, write_html_report, write_overlay)


def tube(first, last, box):
    n = last - first + 1
    return Tube(torch.arange(first, last + 1), torch.tensor([box] * n, dtype=torch.float32))


def test_draw_answer_boxes_sentence_and_time_bar():
    frame = np.zeros((120, 200, 3), np.uint8)
    out = draw_answer(frame, 5, fps=10.0, pred=tube(0, 9, [20, 40, 60, 100]), gt=tube(5, 5, [100, 40, 150, 100]),
                      sentence="the man in red waves", timeline=Timeline(2.0, pred=(0.0, 1.0), gt=(0.5, 0.6)),
                      label="vIoU 0.12")
    assert frame.sum() == 0  # the input is not modified
    assert tuple(out[70, 20]) == PRED_COLOUR and tuple(out[70, 150]) == GT_COLOUR
    assert out[:20].max() > 200  # the sentence band
    bottom = out[-14:]
    assert (bottom == PRED_COLOUR).all(-1).any() and (bottom == GT_COLOUR).all(-1).any()
    off = draw_answer(frame, 50, fps=10.0, pred=tube(0, 9, [20, 40, 60, 100]))  # no box on frame 50
    assert off.sum() == 0


def test_write_overlay_mp4_and_gif(tmp_path):
    from PIL import Image

    from stvg.video import VideoReader

    frames = np.random.default_rng(0).integers(0, 255, size=(6, 49, 65, 3), dtype=np.uint8)
    write_overlay(str(tmp_path / "o.mp4"), frames, 5.0)  # odd size: padded
    r = VideoReader(str(tmp_path / "o.mp4"))
    assert r.num_frames == 6 and r.size == (66, 50)
    write_overlay(str(tmp_path / "o.gif"), frames, 5.0)
    with Image.open(tmp_path / "o.gif") as im:
        assert im.n_frames == 6
    with pytest.raises(ValueError, match="uint8 frames"):
        write_overlay(str(tmp_path / "x.gif"), frames[:0], 5.0)


def test_score_cell_by_hand():
    assert score_cell((4.0, 8.0), (0.0, 20.0), 10) == (2, 3)
    assert score_cell((0.0, 20.0), (0.0, 20.0), 10) == (0, 9)
    assert score_cell((24.0, 26.0), (20.0, 40.0), 10) == (2, 2)
    assert score_cell((30.0, 31.0), (0.0, 20.0), 10) is None


def test_score_map_and_histogram_images():
    scores = torch.rand(8, 8)
    mask = torch.ones(8, 8, dtype=torch.bool).triu()
    img = score_map_image(scores, mask, pred_cell=(1, 3), gt_cell=(2, 5), window=(0.0, 20.0), title="q")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 100
    hist = histogram_image([0.1, 0.5, 0.52, 0.9])
    assert hist.dtype == np.uint8 and hist.shape[2] == 3
    both = stack_images([img, hist], axis=0)
    assert both.shape[0] == img.shape[0] + hist.shape[0]
    with pytest.raises(ValueError, match="square"):
        score_map_image(torch.rand(3, 4))


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.links, self.images, self._cells, self._in_td = [], [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.links.append(a["href"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "tr":
            self._cells = []
        if tag == "td":
            self._in_td = True
            self._cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False
        if tag == "tr" and self._cells:
            self.rows.append(self._cells)

    def handle_data(self, data):
        if self._in_td:
            self._cells[-1] += data


def test_html_report_sorted_worst_first_and_escaped(tmp_path):
    rows = [{"video_id": "a.mp4", "sentence": "good", "tiou": 0.9, "viou": 0.8, "thumb": "thumbs/a.jpg",
             "overlay": "overlays/a.mp4"},
            {"video_id": "b.mp4", "sentence": "<script>bad</script>", "tiou": 0.1, "viou": 0.05},
            {"video_id": "c.mp4", "sentence": "unread", "tiou": None, "viou": None, "note": "video missing"}]
    write_html_report(str(tmp_path / "index.html"), rows, summary={"m_vIoU": 0.425}, histogram="hist.png")
    text = (tmp_path / "index.html").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    page = _Page()
    page.feed(text)
    assert [r[1] for r in page.rows] == ["b.mp4", "a.mp4", "c.mp4"]
    assert "overlays/a.mp4" in page.links and "thumbs/a.jpg" in page.images and "hist.png" in page.images
