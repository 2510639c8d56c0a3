#!/usr/bin/env bash
# Development install of detectron2 into .venv from the PyPI sdist `pb1-detectron2==0.6`.
#
# detectron2 is not on PyPI and its C++/CUDA ops need a compiler toolchain matched to torch; on the
# development machines only this sdist is reachable. This script (idempotent) installs it as a pure
# Python package, enough for the model zoo configs, `build_model` and Faster R-CNN inference on CPU
# or GPU (torchvision provides RoIAlign and NMS):
#   * downloads the sdist from PyPI and checks its sha256;
#   * replaces its setup.py by a minimal one: no C++ extensions, model-zoo configs as package data,
#     no pinned `black`/`tensorboard` requirements;
#   * adds `detectron2/_C.py`, a module whose every attribute raises a clear error (the ops that need
#     the compiled library: deformable conv, rotated boxes, the fast COCO evaluator);
#   * replaces `Image.LINEAR` (removed in Pillow 10) by its identical alias `Image.BILINEAR`, and
#     `pkg_resources.resource_filename` (gone with setuptools 81) by the package's own directory,
#     so the venv keeps its Pillow and setuptools;
#   * installs detectron2's pure-Python runtime dependencies (fvcore, iopath, yacs, omegaconf, ...).
# Users with a CUDA toolchain should install detectron2 the official way instead:
#   pip install 'git+https://github.com/facebookresearch/detectron2.git'
#
# Usage: tools/setup_detectron2.sh [VENV]   (default: .venv next to this repository's root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PY="$VENV/bin/python"
SDIST_URL="https://files.pythonhosted.org/packages/60/26/48f5bbb7ee492696a21da23303daeecdfe3942c498a70d34108acf63b2bd/pb1-detectron2-0.6.tar.gz"
SDIST_SHA256="5d2e9e51e523ec72f6a31cca04b0a515492e9514b773a3d134cedc0677170b29"
CHECK='from detectron2 import model_zoo; from detectron2.config import get_cfg; from detectron2.modeling import build_model; model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml")'

if [ ! -x "$PY" ]; then
    echo "setup_detectron2: no Python at $PY (create the venv first: make install)" >&2
    exit 1
fi
if "$PY" -c "$CHECK" 2>/dev/null; then
    echo "setup_detectron2: detectron2 already installed in $VENV ($("$PY" -c 'import detectron2; print(detectron2.__version__)'))"
    exit 0
fi

echo "setup_detectron2: installing detectron2's pure-Python dependencies"
"$VENV/bin/pip" install --quiet "fvcore>=0.1.5,<0.1.6" "iopath>=0.1.7,<0.1.10" "yacs>=0.1.8" \
    "termcolor>=1.1" tabulate cloudpickle "omegaconf>=2.1" "hydra-core>=1.1"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "setup_detectron2: downloading pb1-detectron2 0.6"
"$PY" - "$SDIST_URL" "$SDIST_SHA256" "$WORK/sdist.tar.gz" <<'PYEOF'
import hashlib, sys, urllib.request
url, sha, out = sys.argv[1:4]
data = urllib.request.urlopen(url, timeout=120).read()
got = hashlib.sha256(data).hexdigest()
if got != sha:
    sys.exit(f"setup_detectron2: sha256 mismatch for {url}: {got} != {sha}")
open(out, "wb").write(data)
PYEOF
tar -xzf "$WORK/sdist.tar.gz" -C "$WORK"
SRC="$WORK/pb1-detectron2-0.6"

echo "setup_detectron2: patching (no C++ ops, configs as package data, Pillow>=10)"
"$PY" - "$SRC" <<'PYEOF'
import pathlib, sys
src = pathlib.Path(sys.argv[1])
(src / "setup.py").write_text('''\
from setuptools import find_packages, setup

PROJECTS = {
    "detectron2.projects.point_rend": "projects/PointRend/point_rend",
    "detectron2.projects.deeplab": "projects/DeepLab/deeplab",
    "detectron2.projects.panoptic_deeplab": "projects/Panoptic-DeepLab/panoptic_deeplab",
}
setup(
    name="pb1-detectron2",
    version="0.6",
    description="detectron2 0.6 without its C++ ops (development install, tools/setup_detectron2.sh)",
    packages=find_packages(exclude=("configs", "tests*")) + list(PROJECTS.keys()),
    package_dir=PROJECTS,
    package_data={"detectron2.model_zoo": ["configs/*.yaml", "configs/**/*.yaml", "configs/**/*.py"]},
    python_requires=">=3.6",
)
''')
(src / "detectron2" / "_C.py").write_text('''\
"""Placeholder for detectron2's compiled ops, absent in this pure-Python development install."""


def __getattr__(name):
    raise ImportError(
        f"detectron2._C.{name} is unavailable: this detectron2 was installed without its C++/CUDA ops "
        "(tools/setup_detectron2.sh). Install detectron2 from source for deformable convolutions, "
        "rotated boxes and the fast COCO evaluator.")
''')
for p in (src / "detectron2").rglob("*.py"):
    text = p.read_text()
    new = text.replace("Image.LINEAR", "Image.BILINEAR")
    if p.name == "model_zoo.py" and p.parent.name == "model_zoo":
        new = new.replace("import pkg_resources\n", "")
        new = new.replace('pkg_resources.resource_filename(\n        "detectron2.model_zoo", ',
                          "os.path.join(\n        os.path.dirname(os.path.abspath(__file__)), ")
        if "pkg_resources" in new:
            sys.exit(f"setup_detectron2: could not patch pkg_resources out of {p}")
    if new != text:
        p.write_text(new)
PYEOF

echo "setup_detectron2: installing into $VENV"
"$VENV/bin/pip" install --quiet --no-deps --no-build-isolation "$SRC"
"$PY" -c "$CHECK"
echo "setup_detectron2: done ($("$PY" -c 'import detectron2; print(detectron2.__file__)'))"
