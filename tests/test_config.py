import pytest

from pawprint import config
from pawprint.config import ConfigError
from tests.helpers import ROOT, merge, tiny_params


def test_shipped_params_are_valid():
    params = config.load(ROOT / "params.yaml")
    assert params.data.source == "digits"
    assert isinstance(params.distill.temperature, float)


def test_int_accepted_for_float_and_frozen():
    params = config.parse(tiny_params(distill={"temperature": 3}))
    assert params.distill.temperature == 3.0
    with pytest.raises(AttributeError):
        params.seed = 4  # frozen


BAD = [
    ({"unknown_top": 1}, "unknown key unknown_top"),
    ({"data": {"sorce": "digits"}}, "unknown key data.sorce"),
    ({"data": {"source": "imagenet"}}, "data.source = 'imagenet': must be one of"),
    ({"data": {"test_size": -5}}, "data.test_size = -5: must be > 0"),
    ({"data": {"test_size": 0}}, "data.test_size = 0: must be > 0"),
    ({"data": {"val_size": "100"}}, "data.val_size = '100': must be of type int"),
    ({"data": {"labeled_size": 2.5}}, "data.labeled_size = 2.5: must be of type int"),
    ({"data": {"image_size": 8}}, "data.image_size = 8: must be >= 16"),
    ({"data": {"image_size": 64, "cache_size": 48}}, "data.cache_size = 48: must be >= data.image_size"),
    ({"data": {"source": "folder", "folder": ""}}, "data.folder = ''"),
    ({"unlabeled_size": -1}, "unlabeled_size = -1: must be >= 0"),
    ({"seed": True}, "seed = True: must be of type int"),
    ({"train": {"batch_size": 0}}, "train.batch_size = 0: must be > 0"),
    ({"train": {"precision": "fp8"}}, "train.precision = 'fp8': must be one of"),
    ({"train": {"resume": "yes"}}, "train.resume = 'yes': must be of type bool"),
    ({"train": {"patience": -2}}, "train.patience = -2: must be > 0"),
    ({"train": {"strategy": "horovod"}}, "train.strategy = 'horovod': must be one of auto, ddp"),
    ({"train": {"devices": 0}}, "train.devices = 0: must be > 0"),
    ({"train": {"num_nodes": "2"}}, "train.num_nodes = '2': must be of type int"),
    ({"train": {"devices": 2}, "finetune": {"probe_epochs": 3}}, "finetune.probe_epochs = 3: a linear probe unfreezes"),
    ({"train": {"schedule": "onecycle"}, "ssl_teacher": {"probe_epochs": 2}}, "ssl_teacher.probe_epochs = 2: a line"),
    ({"train": {"schedule": "linear"}}, "train.schedule = 'linear': must be one of cosine, onecycle"),
    ({"augment": {"min_scale": 0}}, "augment.min_scale = 0.0: must be in (0, 1]"),
    ({"augment": {"translate": 0.5}}, "augment.translate = 0.5: must be in [0, 0.5)"),
    ({"student": {"arch": "resnet18"}}, "student.arch = 'resnet18': must be one of"),
    ({"teachers": {"resnet50": {"arch": "alexnet"}}}, "teachers.resnet50.arch = 'alexnet': must be one of"),
    ({"teachers": {"resnet50": {"weights": "imagnet"}}}, "teachers.resnet50.weights = 'imagnet'"),
    ({"teachers": {"resnet50": {"unfreeze": -2}}}, "teachers.resnet50.unfreeze = -2: must be -1"),
    ({"teachers": {"resnet50": {"unfreeze": 2}}}, "teachers.resnet50.unfreeze = 2 with weights none: the froz"),
    ({"teachers": {"Big-Net": {"arch": "vgg16"}}}, "teachers.Big-Net: names must be lower-case"),
    ({"teachers": {"ssl_teacher": {"arch": "vgg16"}}}, "teachers.ssl_teacher: the name is taken"),
    ({"teachers": {"v": {"arch": "vgg16"}}}, "teachers.v.image_size: vgg16 needs >= 32 pixels"),
    ({"data": {"source": "cifar10", "test_folder": "x"}}, "the cifar10 source tests on CIFAR-10's official test set"),
    ({"teachers": []}, "teachers must be a non-empty mapping"),
    ({"ssl_teacher": {"pretrain_epochs": 0}}, "ssl_teacher.pretrain_epochs = 0: must be > 0"),
    ({"distill_runs": {"kd": {"teachers": {"alexnet": 1.0}}}}, "distill_runs.kd.teachers.alexnet: no such teacher"),
    ({"distill_runs": {"kd": {"teachers": {"resnet50": 0}}}}, "distill_runs.kd.teachers.resnet50 = 0: must be a"),
    ({"distill_runs": {"simclr": {"teachers": {"resnet50": 1}}}}, "distill_runs.simclr: the name is taken"),
    ({"hybrid": {"teachers": {"vgg": 1.0}}}, "hybrid.teachers.vgg: no such teacher"),
    ({"finetune": {"probe_epochs": -1}}, "finetune.probe_epochs = -1: must be >= 0"),
    ({"distill": {"temperature": 0}}, "distill.temperature = 0.0: must be > 0"),
    ({"distill": {"temperature": -1.5}}, "distill.temperature = -1.5: must be > 0"),
    ({"distill": {"alpha": 1.5}}, "distill.alpha = 1.5: must be between 0 and 1"),
    ({"distill": {"alpha": -0.1}}, "distill.alpha = -0.1: must be between 0 and 1"),
    ({"distill": {"loss_form": "mse"}}, "distill.loss_form = 'mse'"),
    ({"distill": {"min_scale": 1.5}}, "distill.min_scale = 1.5: must be 0 (augment.min_scale) or in (0, 1]"),
    ({"simclr": {"temperature": 0}}, "simclr.temperature = 0.0: must be > 0"),
    ({"simclr": {"cj_prob": 2}}, "simclr.cj_prob = 2.0: must be between 0 and 1"),
    ({"baseline": {"lr": 0}}, "baseline.lr = 0.0: must be > 0"),
    ({"finetune": {"epochs": 0}}, "finetune.epochs = 0: must be > 0"),
    ({"teachers": {"resnet50": "big"}}, "teachers.resnet50 must be a mapping"),
    ({"teachers": {"resnet50": {"image_size": 8}}}, "teachers.resnet50.image_size = 8: must be 0 (the student's"),
    ({"teachers": {"resnet50": {"image_size": 96}}}, "data.cache_size = 18: must be >= teachers.resnet50.image_size"),
    ({"ssl_teacher": {"image_size": 24}}, "data.cache_size = 18: must be >= ssl_teacher.image_size (24)"),
    (
        {"teachers": {"resnet50": {"image_size": 16}}, "data": {"image_size": 18}},
        "teachers.resnet50.image_size = 16: below data.image_size (18), the teacher would see less than its student",
    ),
    ({"data": {"kaggle_slug": "no-slash"}}, "data.kaggle_slug = 'no-slash': must be owner/dataset"),
]


@pytest.mark.parametrize("override, message", BAD, ids=[m for _, m in BAD])
def test_bad_value_is_one_line_naming_key_value_and_rule(override, message):
    raw = merge(tiny_params(), override)
    with pytest.raises(ConfigError) as info:
        config.parse(raw)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_distillation_views_crop_as_augment_unless_distill_sets_its_own():
    inherited = config.parse(tiny_params(augment={"min_scale": 0.4, "hflip": True}))
    assert inherited.distill_augment == inherited.augment
    own = config.parse(tiny_params(augment={"min_scale": 0.4, "hflip": True}, distill={"min_scale": 1.0}))
    assert (own.distill_augment.min_scale, own.distill_augment.hflip) == (1.0, True)
    assert own.augment.min_scale == 0.4  # the baseline's and every other stage's crop is untouched


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(tmp_path / "params.yaml")


def test_teachers_and_runs_are_named_sections():
    params = config.parse(tiny_params(teachers={"resnet50": {"image_size": 18}}))
    assert list(params.teachers) == ["resnet50", "second"]
    assert params.teachers["second"].unfreeze == -1
    assert params.teacher_size("resnet50") == 18 and params.teacher_size("second") == 16
    assert params.distill_runs["kd_ensemble"].teachers == {"resnet50": 1.0, "second": 1.0}
    assert config.flatten(params)["distill_runs.kd_ensemble.teachers.second"] == 1.0


def test_flatten_uses_dvc_names():
    flat = config.flatten(config.parse(tiny_params()))
    assert flat["distill.alpha"] == 0.5
    assert flat["unlabeled_size"] == 40


def test_a_number_given_for_a_string_setting_is_read_as_its_text():
    """`dvc exp run -S train.precision=32` writes the number 32, not the string '32', into params.yaml."""
    assert config.parse(merge(tiny_params(), {"train": {"precision": 32}})).train.precision == "32"
    with pytest.raises(ConfigError, match="train.precision = '8': must be one of"):
        config.parse(merge(tiny_params(), {"train": {"precision": 8}}))
