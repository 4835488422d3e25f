"""`train.precision: auto`: what the bench measured to pay on a CPU, per kind of network and use."""

import warnings

import pytest
import torch

from pawprint import device, models


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_trains_depthwise_networks_in_fp32_and_the_rest_in_bf16(bf16_cpu):
    student, teacher = models.build("mobilenet_v2", 2, 32), models.build("resnet50", 2, 32)
    assert device.depthwise(student) and not device.depthwise(teacher)
    assert not device.depthwise(models.build("small_cnn", 2, 32))
    assert device.precision("auto", trains=student) == "32-true"
    assert device.precision("auto", trains=teacher) == "bf16-mixed"
    assert device.precision("auto", trains=models.build("small_cnn", 2, 32)) == "bf16-mixed"
    assert device.precision("auto") == "bf16-mixed"  # inference, whatever the network
    assert device.precision("32", trains=teacher) == "32-true"
    assert device.precision("bf16", trains=student) == "bf16-mixed"  # asked for explicitly


def test_auto_is_fp32_on_a_cpu_without_bf16(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.precision("auto", trains=models.build("resnet50", 2, 96)) == "32-true"
    assert device.precision("auto") == "32-true"


def test_teachers_predict_in_bf16_while_the_student_trains_in_fp32(bf16_cpu):
    from pawprint.distill import Teachers

    net = models.build("small_cnn", 2, 64)
    view = torch.rand(4, 3, 64, 64)
    fast, exact = Teachers([(net, 64, 1.0)], "auto"), Teachers([(net, 64, 1.0)], "32")
    with torch.no_grad():
        a, b = fast(view), exact(view)
    assert fast.precision == "bf16-mixed" and exact.precision == "32-true"
    assert a.dtype == b.dtype == torch.float32
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=0.05, rtol=0.05)  # bf16's rounding, no more


def test_auto_trains_in_fp32_where_a_strided_convolution_meets_a_1x1_map(bf16_cpu):
    resnet = models.build("resnet50", 2, 16).train()
    assert device.strided_on_one_pixel(resnet, 16)  # layer4's first 3x3 convolution, stride 2, on 1x1
    assert device.precision("auto", trains=resnet, image_size=16) == "32-true"
    assert device.precision("auto", trains=resnet, image_size=17) == "bf16-mixed"
    assert device.precision("auto", trains=resnet, image_size=32) == "bf16-mixed"
    assert resnet.training and not any(m._forward_pre_hooks for m in resnet.modules())  # the probe leaves no trace
    vgg = models.build("vgg16_bn", 2, 16)  # no strided convolution (it pools): bf16 at any size
    assert device.precision("auto", trains=vgg, image_size=16) == "bf16-mixed"


@pytest.mark.skipif(not device.cpu_has_bf16(), reason="needs a CPU with native bf16")
def test_a_resnet_below_17_px_gets_finite_gradients_in_the_precision_auto_picks():
    """Freed memory full of NaN, as a resumed run's loaded checkpoints can leave it: bf16 would read it into
    the weight gradient of layer4's strided convolution, fp32 does not."""
    torch.manual_seed(0)
    model = models.build("resnet50", 10, 16).to(memory_format=torch.channels_last)
    mixed = device.precision("auto", trains=model, image_size=16)
    x = torch.rand(16, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        junk = [torch.full((1 << 20,), float("nan")) for _ in range(64)]
        del junk
        model.zero_grad()
        with device.autocast(mixed, "cpu"):
            loss = torch.nn.functional.cross_entropy(model(x).float(), torch.arange(16) % 10)
        loss.backward()
        assert [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()] == []


def test_an_explicit_bf16_is_kept_where_a_strided_convolution_meets_a_1x1_map_but_not_silently(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    resnet = models.build("resnet50", 2, 16)
    with pytest.warns(UserWarning, match="1x1 map at 16 px.*set train.precision to auto or 32"):
        assert device.precision("bf16", trains=resnet, image_size=16) == "bf16-mixed"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert device.precision("bf16", trains=resnet, image_size=32) == "bf16-mixed"
        assert device.precision("bf16") == "bf16-mixed"  # inference: no gradient
