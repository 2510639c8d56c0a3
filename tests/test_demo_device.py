"""tools/demo.py on stvg.cli.tool_main: a bad --device (or --out an existing file) is one line on
stderr, exit 2, before any work or output (the --out folder is not made)."""
import os

import pytest
import torch

from tests.test_kill_resume_training import _main


@pytest.mark.parametrize("device, message", [
    ("foo", "error: unknown device 'foo': use auto, cpu, cuda or cuda:N\n"),
    pytest.param("cuda", "error: device 'cuda' asked for, but CUDA is not available on this machine "
                         "(use --device cpu or auto)\n",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present"))])
def test_bad_device_exits_2_and_writes_nothing(device, message, tmp_path, capsys):
    assert _main("tools/demo.py")(["--device", device, "--out", str(tmp_path / "demo")]) == 2
    captured = capsys.readouterr()
    assert captured.err == message and captured.out == ""
    assert os.listdir(tmp_path) == []


def test_out_an_existing_file_exits_2(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    assert _main("tools/demo.py")(["--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'f'} exists and is not a folder\n"
    assert (tmp_path / "f").read_text() == "mine"
