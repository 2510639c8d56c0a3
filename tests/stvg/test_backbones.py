"""stvg.backbones: registry, weights resolution (offline), shapes, determinism, local weights."""
from __future__ import annotations

import pytest
import torch
import torchvision

from stvg.backbones import BACKBONES, available_backbones, build_backbone, resolve_weights
from tests.conftest import requires_cuda


def _frames(n, h=64, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, h, w, 3), dtype=torch.uint8, generator=g)


def test_registry_names_and_unknown():
    assert {"resnet18", "resnet50", "r2plus1d_18", "s3d", "mvit_v2_s"} <= set(available_backbones())
    with pytest.raises(ValueError, match="resnet18"):
        build_backbone("resnet19")


@pytest.mark.parametrize("weights", ["IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V2", "DEFAULT"])
def test_weights_names_resolve_without_download(weights):
    enum, local, source = resolve_weights("resnet50", weights)
    assert local is None and enum is source
    assert enum.transforms().mean == [0.485, 0.456, 0.406]


def test_weights_label_is_the_same_for_every_spelling():
    from stvg.backbones import weights_label

    labels = {weights_label("resnet18", w) for w in ("IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1")}
    assert labels == {"ResNet18_Weights.IMAGENET1K_V1"}
    assert weights_label("resnet18", None) == weights_label("resnet18", "none") == "none"


def test_bad_weights_name_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="KINETICS400_V1"):
        resolve_weights("r2plus1d_18", "IMAGENET1K_V1")
    with pytest.raises(ValueError, match="not an existing file"):
        resolve_weights("resnet18", str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("name, mean", [("resnet18", (0.485, 0.456, 0.406)),
                                        ("r2plus1d_18", (0.43216, 0.394666, 0.37645)),
                                        ("mvit_v2_s", (0.45, 0.45, 0.45))])
def test_normalisation_follows_family_defaults_without_weights(name, mean):
    bb = build_backbone(name, None)
    assert bb.mean == pytest.approx(mean) and bb.weights == "none"
    x = bb.normalize(torch.zeros(1, 4, 4, 3, dtype=torch.uint8))
    assert x.shape == (1, 3, 4, 4)
    torch.testing.assert_close(x[0, :, 0, 0], -torch.tensor(bb.mean) / torch.tensor(bb.std))


def test_frame_backbone_shapes_and_pooling():
    bb = build_backbone("resnet18", None)
    fmap, vec = bb.encode_frames(_frames(3))
    assert fmap.shape == (3, 512, 2, 3) and vec.shape == (3, 512)
    assert fmap.dtype == vec.dtype == torch.float32
    torch.testing.assert_close(vec, fmap.mean(dim=(2, 3)))
    # batching does not change a frame's features
    _, one = bb.encode_frames(_frames(3)[1:2])
    torch.testing.assert_close(one[0], vec[1], rtol=1e-4, atol=1e-4)
    # the pooled vector is what torchvision's own model gives before its classifier
    ref = torchvision.models.resnet18()
    ref.load_state_dict({**bb.model.state_dict(), "fc.weight": ref.fc.weight, "fc.bias": ref.fc.bias})
    ref.fc = torch.nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(ref.eval()(bb.normalize(_frames(3))), vec, rtol=1e-4, atol=1e-4)


def test_resnet50_dim():
    bb = build_backbone("resnet50", None)
    fmap, vec = bb.encode_frames(_frames(1, 32, 32))
    assert fmap.shape == (1, 2048, 1, 1) and vec.shape == (1, 2048) == (1, BACKBONES["resnet50"].feature_dim)


@pytest.mark.parametrize("name, shape, dim", [("r2plus1d_18", (2, 8, 32, 32, 3), 512),
                                              ("s3d", (1, 16, 32, 32, 3), 1024)])
def test_clip_backbone_shapes(name, shape, dim):
    bb = build_backbone(name, None)
    clips = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = bb.encode_clips(clips)
    assert out.shape == (shape[0], dim) and out.dtype == torch.float32 and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="clip model"):
        bb.encode_frames(clips[0])


def test_mvit_needs_16_frames():
    bb = build_backbone("mvit_v2_s", None)
    with pytest.raises(ValueError, match="exactly 16"):
        bb.encode_clips(torch.zeros(1, 8, 32, 32, 3, dtype=torch.uint8))


def test_random_init_is_deterministic_and_seeded():
    a, b = build_backbone("resnet18", None), build_backbone("resnet18", None)
    c = build_backbone("resnet18", None, seed=1)
    x = _frames(2)
    torch.testing.assert_close(a.encode_frames(x)[1], b.encode_frames(x)[1], rtol=0, atol=0)
    assert not torch.equal(a.encode_frames(x)[1], c.encode_frames(x)[1])


def test_local_weights_file(tmp_path):
    torch.manual_seed(5)
    model = torchvision.models.resnet18()
    path = tmp_path / "r18.pth"
    torch.save({"model": model.state_dict()}, path)
    bb = build_backbone("resnet18", str(path))
    torch.testing.assert_close(bb.model.conv1.weight, model.conv1.weight)
    assert bb.weights.endswith("r18.pth") and bb.mean == pytest.approx((0.485, 0.456, 0.406))
    torch.save(torchvision.models.video.r2plus1d_18().state_dict(), tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"wrong.pth \(torchvision resnet18\) does not fit the model"):
        build_backbone("resnet18", str(tmp_path / "wrong.pth"))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    torch.save(state, tmp_path / "headless.pth")  # a file without the classifier is fine
    torch.testing.assert_close(build_backbone("resnet18", str(tmp_path / "headless.pth")).model.conv1.weight,
                               model.conv1.weight)
    del state["layer1.0.conv1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"1 missing key\(s\): layer1.0.conv1.weight"):
        build_backbone("resnet18", str(tmp_path / "partial.pth"))


def test_no_grad_and_eval():
    bb = build_backbone("resnet18", None)
    assert not bb.training and not any(p.requires_grad for p in bb.parameters())


@requires_cuda
def test_cuda_amp_close_to_cpu():
    cpu = build_backbone("resnet18", None)
    gpu = build_backbone("resnet18", None, device=torch.device("cuda"))
    x = _frames(4)
    ref, out = cpu.encode_frames(x)[1], gpu.encode_frames(x.cuda())[1]
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert (out.cpu() - ref).abs().max() <= 2e-2 * ref.abs().max()


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_stage_maps_equal_torchvision_feature_extractor(name):
    from torchvision.models.feature_extraction import create_feature_extractor

    bb = build_backbone(name, None)
    spec = bb.spec
    x = _frames(2, 64, 96)
    ref = create_feature_extractor(bb.model, {f"layer{k}": str(k) for k in range(1, 5)}).eval()
    with torch.no_grad():
        want = ref(bb.normalize(x))
    _, last_vec = bb.encode_frames(x)
    for k in range(1, spec.num_stages + 1):
        fmap, vec = bb.encode_frames(x, stage=k)
        assert fmap.shape == (2, spec.stage_dim(k), 64 // spec.stage_stride(k), 96 // spec.stage_stride(k))
        torch.testing.assert_close(fmap, want[str(k)], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(vec, last_vec)          # the pooled vector is always the last stage's
    assert [spec.stage_stride(k) for k in range(1, 5)] == [4, 8, 16, 32]
    assert spec.stage_dim(4) == spec.feature_dim


def test_stage_out_of_range_is_an_error():
    bb = build_backbone("resnet18", None)
    with pytest.raises(ValueError, match="stages 1 to 4, not 5"):
        bb.encode_frames(_frames(1), stage=5)
    with pytest.raises(ValueError, match="clip model"):
        BACKBONES["r2plus1d_18"].stage_dim(1)
