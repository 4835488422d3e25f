"""`pawprint bench --data FOLDER` (`make bench DATA=FOLDER`): images per second of every stage, three ways,
measured side by side in one run.

- (a) project: the stage's real Lightning module and data path (decoded uint8 cache, batched tensor
  augmentation, channels-last, `precision: auto`), timed between training steps;
- (b) plain PyTorch: `torchvision.datasets.ImageFolder` + `DataLoader` (defaults: no workers) decoding the
  JPEGs every epoch, torchvision / lightly PIL transforms, fp32, default layout, a hand-written loop with the
  same model, loss, optimizer and batch size;
- (c) ceiling: the model alone on tensors already in memory, with (a)'s precision and layout;
- (d) plain loop in memory (supervised stages): the 40-line script a study's code amounts to: the images as
  normalised float tensors in memory, no augmentation, fp32, default layout, Adam at 1e-3, and the small CNN
  written layer by layer as the study's Keras code has it (conv, ReLU, pool, `nn.Dropout`).

Both training loops augment as the study `--preset` names does (default `petimages`: random resized crops and
flips; `cifar10`: flips only). The three alternate within one child process per (stage, size), and each
number is the median of several repetitions; the child's peak resident memory is reported for the stage.
Also: the teacher's cost of caching K views (distillation), and the time of a `dvc repro` with nothing to do
in this repository.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path

from pawprint.tools import dvc

STAGES = ["pretrain_simclr", "train_teacher", "distill_cached", "distill_on_the_fly", "train_baseline", "evaluate"]


def _files(root: Path, count: int, cache_size: int):
    """The first `count` usable photos, decoded once for (a) and (c); (b) re-reads the same files."""
    from pawprint.data.build import decode_all, scan

    files, labels, classes = scan(root)
    order = sorted(range(len(files)), key=lambda i: (i % 97, i))  # both classes, deterministic
    picked = order[: int(count * 1.05) + 8]
    decoded = decode_all([files[i] for i in picked], cache_size)
    keep = [(files[i], labels[i], d) for i, d in zip(picked, decoded) if not isinstance(d, str)][:count]
    return keep, classes


def _median_rate(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


class _Timer:
    """Lightning callback: wall time from the end of the warm-up steps to the last step."""

    def __init__(self, warmup: int):
        import pytorch_lightning as pl

        class Cb(pl.Callback):
            def on_train_batch_end(cb, trainer, module, outputs, batch, batch_idx):
                if trainer.global_step == warmup:
                    self.start = time.perf_counter()
                self.end = time.perf_counter()

        self.callback = Cb()
        self.start = self.end = 0.0


def _project(
    stage: str, size: int, data, classes, batch: int, steps: int, warmup: int, student: str, augmentation
) -> tuple[float, float]:
    """(a): images/s of the stage's own training step; for the cached distillation also the caching cost."""
    import numpy as np
    import pytorch_lightning as pl

    from pawprint import config, device, inference, models
    from pawprint.augment import SupervisedAugment
    from pawprint.data.loaders import ArrayDataset, loader
    from pawprint.distill import Distill, Teachers, cache_views
    from pawprint.ssl import SimCLR
    from pawprint.training import Module

    images = np.stack([d for _, _, d in data])
    labels = np.array([lab for _, lab, _ in data])
    dataset = ArrayDataset(images, labels)
    n = len(classes)
    if stage == "evaluate":
        model = models.build(student, n, size)
        inference.logits(model, images[: batch * 2], size, batch)
        start = time.perf_counter()
        inference.logits(model, images, size, batch)
        return len(images) / (time.perf_counter() - start), 0.0
    optim = config.OptimConfig(epochs=1, lr=1e-3)
    augment = SupervisedAugment.of(augmentation, size)
    cache_rate = 0.0
    if stage == "pretrain_simclr":
        module = SimCLR(models.build(student, n, size), config.SimCLRConfig(), size)
    elif stage == "train_teacher":
        module = Module(models.build("resnet50", n, size), augment, size, optim)
    elif stage == "train_baseline":
        module = Module(models.build(student, n, size), augment, size, optim)
    else:
        teachers = Teachers([(models.build("resnet50", n, size), size, 1.0)])
        cfg = config.DistillConfig()
        net = models.build(student, n, size)
        if stage == "distill_cached":
            start = time.perf_counter()
            dataset = cache_views(teachers, dataset, augment, size, k=1)
            cache_rate = len(images) / (time.perf_counter() - start)
            module = Distill(net, augment, size, cfg)
        else:
            module = Distill(net, augment, size, cfg, teacher=teachers)
    timer = _Timer(warmup)
    trainer = pl.Trainer(
        max_steps=warmup + steps,
        accelerator=device.accelerator(),
        devices=1,
        precision=device.precision("auto", trains=module.model, image_size=size),
        callbacks=[timer.callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loader(dataset, batch, train=True))
    return batch * steps / (timer.end - timer.start), cache_rate


def _plain(
    stage: str, size: int, data, classes, batch: int, steps: int, warmup: int, student: str, augmentation
) -> float:
    """(b): the reference a PyTorch user would write first."""
    import torch
    import torch.nn.functional as F
    import torchvision
    from torchvision import transforms as T

    from pawprint import models

    files = {str(path) for path, _, _ in data}
    root = data[0][0].parents[1]
    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    if stage == "pretrain_simclr":
        from lightly.transforms import SimCLRTransform

        transform = SimCLRTransform(input_size=size)
    elif stage == "evaluate":
        transform = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), norm])
    else:  # the same augmentation as the project's, in torchvision's PIL transforms
        a = augmentation
        crop = (
            [T.RandomResizedCrop(size, (a.min_scale, 1.0))] if a.min_scale < 1 else [T.Resize(size), T.CenterCrop(size)]
        )
        shift = [T.RandomCrop(size, padding=round(a.translate * size))] if a.translate else []
        flip = [T.RandomHorizontalFlip()] if a.hflip else []
        transform = T.Compose([*crop, *shift, *flip, T.ToTensor(), norm])
    folder = torchvision.datasets.ImageFolder(root, transform=transform, is_valid_file=lambda p: p in files)
    shuffle = stage != "evaluate"
    dl = torch.utils.data.DataLoader(folder, batch_size=batch, shuffle=shuffle, drop_last=shuffle)
    n = len(classes)
    arch = "resnet50" if stage == "train_teacher" else student
    model = models.build(arch, n, size)
    teacher = models.build("resnet50", n, size).eval() if stage.startswith("distill") else None
    head = None
    if stage == "pretrain_simclr":
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        head = SimCLRProjectionHead(model.feature_dim, model.feature_dim, 128)
        loss_fn = NTXentLoss(0.5)
    params = list(model.parameters()) + (list(head.parameters()) if head else [])
    opt = torch.optim.AdamW(params, lr=1e-3)
    done, start = 0, 0.0
    while True:
        for x, y in dl:
            if done == warmup:
                start = time.perf_counter()
            if stage == "evaluate":
                with torch.no_grad():
                    model.eval()(x)
            else:
                if stage == "pretrain_simclr":
                    loss = loss_fn(head(model.backbone(x[0])), head(model.backbone(x[1])))
                elif teacher is not None:
                    with torch.no_grad():
                        soft = F.log_softmax(teacher(x) / 4, 1)
                    loss = F.kl_div(F.log_softmax(model(x) / 4, 1), soft, reduction="batchmean", log_target=True)
                else:
                    loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            done += 1
            if done == warmup + steps:
                return batch * steps / (time.perf_counter() - start)


def _keras_small_cnn(num_classes: int, size: int):
    """The small CNN as a user writes it from the study's Keras code (models.py builds the same function)."""
    from torch import nn

    side = ((size - 2) // 2 - 2) // 2
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * side * side, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, num_classes),
    )  # fmt: skip


def _plain_in_memory(stage: str, size: int, data, classes, batch: int, steps: int, warmup: int, student: str):
    """(d): the in-memory plain loop, for the stages that train on labels (None for the others)."""
    if stage not in ("train_baseline", "train_teacher"):
        return None
    import numpy as np
    import torch
    import torch.nn.functional as F

    from pawprint import models
    from pawprint.augment import resize

    images = np.stack([d for _, _, d in data])
    x_all = resize(torch.from_numpy(images), size)
    x_all = (x_all - x_all.mean((0, 2, 3), keepdim=True)) / x_all.std((0, 2, 3), keepdim=True)
    y_all = torch.tensor([lab for _, lab, _ in data])
    arch = "resnet50" if stage == "train_teacher" else student
    model = _keras_small_cnn(len(classes), size) if arch == "small_cnn" else models.build(arch, len(classes), size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(x_all)).repeat(1 + (warmup + steps) * batch // len(x_all))
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        idx = order[i * batch : (i + 1) * batch]
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - start)


def _ceiling(stage: str, size: int, classes, batch: int, steps: int, warmup: int, student: str) -> float:
    """(c): the model alone on tensors already in memory, with (a)'s precision and layout."""
    import torch
    import torch.nn.functional as F

    from pawprint import device, models
    from pawprint.losses import kd_loss

    n = len(classes)
    arch = "resnet50" if stage == "train_teacher" else student
    model = models.build(arch, n, size).to(memory_format=torch.channels_last)
    train_mixed = device.precision("auto", trains=model, image_size=size)
    predict_mixed = device.precision("auto")
    teacher = models.build("resnet50", n, size).eval().to(memory_format=torch.channels_last)
    views = 2 if stage == "pretrain_simclr" else 1
    x = torch.randn(batch * views, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n, (batch,))
    logits = torch.randn(batch, n)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        if stage == "evaluate":
            with torch.inference_mode(), device.autocast(predict_mixed, "cpu"):
                model.eval()(x)
            continue
        if stage == "distill_on_the_fly":
            with torch.no_grad(), device.autocast(predict_mixed, "cpu"):
                logits = teacher(x).float()
        with device.autocast(train_mixed, "cpu"):
            out = model.backbone(x) if stage == "pretrain_simclr" else model(x)
            loss = out.float().mean() if stage == "pretrain_simclr" else F.cross_entropy(out.float(), y)
            if stage.startswith("distill"):
                loss = kd_loss(out, logits, y, temperature=4.0, alpha=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - start)


def _child(
    stage: str,
    size: int,
    student: str,
    root: str,
    count: int,
    batch: int,
    steps: int,
    repeats: int,
    augmentation,
    queue,
) -> None:
    import torch

    torch.manual_seed(0)
    data, classes = _files(Path(root), count, round(size * 1.15))
    warmup = 2
    project, plain, ceiling, in_memory, cache = [], [], [], [], []
    for _ in range(repeats):  # alternated, so drifts in machine load hit all four alike
        rate, cache_rate = _project(stage, size, data, classes, batch, steps, warmup, student, augmentation)
        project.append(rate)
        cache.append(cache_rate)
        plain.append(_plain(stage, size, data, classes, batch, steps, warmup, student, augmentation))
        ceiling.append(_ceiling(stage, size, classes, batch, steps, warmup, student))
        in_memory.append(_plain_in_memory(stage, size, data, classes, batch, steps, warmup, student))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "stage": stage,
            "size": size,
            "student": student,
            "project": statistics.median(project),
            "plain": statistics.median(plain),
            "ceiling": statistics.median(ceiling),
            "plain_in_memory": None if in_memory[0] is None else statistics.median(in_memory),
            "teacher_cache_views_per_s": statistics.median(cache) or None,
            "peak_rss_mb": round(peak_mb),
        }
    )


def preset_augmentation(name: str):
    """The supervised augmentation a study trains with (params.yaml's `augment` with the preset's `augment.*`
    overrides), so the bench times the data path that study runs, not one of its own."""
    from pawprint.tools import presets

    overrides = {k: v for k, v in presets.load(name).overrides.items() if k.startswith("augment.")}
    return presets.resolve(presets.base_params(), overrides).augment


def noop_repro_seconds(repeats: int = 3) -> float | None:
    """`dvc repro` with nothing to do, in this repository (None when the pipeline has not run here or is out
    of date: `dvc status` is asked first, so the bench never sets off a real reproduction)."""
    if not Path("dvc.lock").exists() or dvc("status", "--quiet").returncode != 0:
        return None
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = dvc("repro", capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if "Running stage" in out.stdout:
            return None  # something was out of date: not a no-op measurement
    return statistics.median(times)


def table(rows: list[dict], noop: float | None) -> str:
    lines = [
        "| stage | px | student | (a) project img/s | (b) plain PyTorch img/s | (c) model only img/s "
        "| (d) plain loop in memory img/s | a/b | a/c | a/d | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r.get("plain_in_memory")
        in_memory, ratio = ("-", "-") if d is None else (f"{d:.0f}", f"{r['project'] / d:.2f}x")
        lines.append(
            f"| {r['stage']} | {r['size']} | {r['student']} | {r['project']:.0f} | {r['plain']:.0f} "
            f"| {r['ceiling']:.0f} | {in_memory} "
            f"| {r['project'] / r['plain']:.2f}x | {100 * r['project'] / r['ceiling']:.0f}% "
            f"| {ratio} | {r['peak_rss_mb']} |"
        )
    caches = [r for r in rows if r["teacher_cache_views_per_s"]]
    for r in caches:
        lines.append(f"\nteacher view caching at {r['size']} px: {r['teacher_cache_views_per_s']:.0f} views/s")
    lines.append(f"\nno-op `dvc repro`: {'not measured (run dvc repro first)' if noop is None else f'{noop:.2f} s'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pawprint bench", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a folder of class folders (photos, e.g. PetImages)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96])
    parser.add_argument("--stages", nargs="+", default=STAGES, choices=STAGES)
    parser.add_argument("--students", nargs="+", default=["mobilenet_v2"], help="student architectures (models.py)")
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--preset", default="petimages", help="the study whose augmentation both training loops use (studies/*.yaml)"
    )
    parser.add_argument("--out", default="reports/bench.json")
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        raise SystemExit(f"error: {args.data}: no such folder; pass --data <folder of class folders>")
    augmentation = preset_augmentation(args.preset)
    ctx = mp.get_context("spawn")
    rows = []
    for size, student, stage in itertools.product(args.sizes, args.students, args.stages):
        queue = ctx.Queue()
        job = (stage, size, student, args.data, args.images, args.batch, args.steps, args.repeats, augmentation)
        proc = ctx.Process(target=_child, args=(*job, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
        print(table(rows[-1:], None).splitlines()[2], flush=True)
    noop = noop_repro_seconds()
    text = table(rows, noop)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "noop_repro_s": noop, "args": vars(args)}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
