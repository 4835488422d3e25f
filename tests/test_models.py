import pickle

import pytest
import torch

from pawprint import models
from pawprint.errors import PawprintError


@pytest.mark.parametrize("arch", ["mobilenet_v2", "mobilenet_v2_32", "small_cnn", "resnet50", "vgg16", "vgg16_bn"])
def test_every_architecture_classifies_and_exposes_its_features(arch):
    model = models.build(arch, num_classes=3, image_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 3)
    assert model.backbone(x).shape == (2, model.feature_dim)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = models.build("small_cnn", 4, 32).eval()
    models.save(model, tmp_path / "m.pt", arch="small_cnn", classes=list("abcd"), image_size=32, cache_size=36)
    loaded, meta = models.load(tmp_path / "m.pt")
    x = torch.randn(3, 3, 32, 32)
    assert meta["classes"] == list("abcd") and meta["image_size"] == 32
    assert torch.equal(model(x), loaded(x))


class Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"arch": "small_cnn", "payload": Evil()}, tmp_path / "evil.pt", pickle_module=pickle)
    with pytest.raises(PawprintError, match="refused to load"):
        models.load(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()


def test_teacher_state_dict_path_must_exist():
    with pytest.raises(PawprintError, match="no such file"):
        models.build("resnet50", 2, 32, weights="/nonexistent/resnet.pt")


@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
def test_imagenet_weights_load_offline_from_a_preseeded_hub_cache(tmp_path, monkeypatch, arch):
    """The real torchvision enum + torch hub path, with TORCH_HOME pointing at a cache seeded by the test."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    enum = models.IMAGENET_WEIGHTS[arch]
    torch.manual_seed(1)
    reference = getattr(torchvision.models, arch)(weights=None)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / enum.url.rsplit("/", 1)[1])
    teacher = models.build(arch, num_classes=2, image_size=32, weights="imagenet")
    first_conv = next(p for n, p in teacher.backbone.named_parameters() if n.endswith("weight"))
    assert torch.equal(first_conv, next(iter(reference.state_dict().values())))


def test_imagenet_weights_missing_offline_is_one_clear_line(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    with pytest.raises(
        PawprintError, match=r"resnet50 weights are not in .*resnet50-11ad3fa6.pth.*teacher.weights: none"
    ):
        models.build("resnet50", 2, 32, weights="imagenet")


@pytest.mark.parametrize(
    "arch, blocks", [("resnet50", 5), ("vgg16", 5), ("vgg16_bn", 5), ("mobilenet_v2", 19), ("small_cnn", 3)]
)
def test_unfreeze_trains_only_the_head_and_the_last_blocks(arch, blocks):
    model = models.build(arch, 2, 32)
    assert len(model.blocks()) == blocks
    backbone = {id(p) for p in model.backbone.parameters()}
    assert backbone == {id(p) for b in model.blocks() for p in b.parameters()}  # blocks cover the backbone

    def trainable():
        return {id(p) for p in model.parameters() if p.requires_grad}

    head = {id(p) for p in model.head.parameters()}
    model.freeze(0)
    assert trainable() == head
    model.freeze(1)
    assert trainable() == head | {id(p) for p in model.blocks()[-1].parameters()}
    model.train()
    assert all(not m.training for b in model.frozen for m in b.modules())  # frozen batch-norm stays put
    assert model.head.training
    model.freeze(-1)
    assert trainable() == {id(p) for p in model.parameters()}


def test_small_cnn_is_the_studys_network_in_its_textbook_layer_order():
    """Pooling before the ReLU is a speed-up, not another network: the same weights in the Keras order
    (conv, ReLU, pool, dropout) give the same outputs."""
    torch.manual_seed(0)
    model = models.build("small_cnn", 10, 32).eval()
    conv1, conv2, dense = (m for m in model.backbone if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    reference = torch.nn.Sequential(
        conv1, torch.nn.ReLU(), torch.nn.MaxPool2d(2), conv2, torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), dense, torch.nn.ReLU(), model.head[-1],
    )  # fmt: skip
    x = torch.randn(8, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x))


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropout_drops_at_its_rate_and_keeps_the_mean(p):
    torch.manual_seed(0)
    layer = models.Dropout(p).train()
    x = torch.ones(200, 100, 50)
    y = layer(x)
    assert abs(float((y == 0).float().mean()) - p) < 0.003
    assert abs(float(y.mean()) - 1.0) < 0.01
    torch.testing.assert_close(torch.unique(y), torch.tensor([0.0, 1 / (1 - p)]))
    assert torch.equal(layer.eval()(x), x)
    masks = [models.Dropout(p).train()(torch.ones(4096)) == 0 for _ in range(2)]
    assert not torch.equal(*masks)  # a fresh mask per call
