"""What a user does with a reproduced pipeline: the export stage's files and numbers, the best student as an
MLflow model that `pawprint predict` loads, and the report page rendered by a real headless Chromium."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pawprint import export
from tests.helpers import pipeline_env, run

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def val_accuracy(repo: Path, kind: str, name: str) -> float:
    return json.loads((repo / "metrics" / kind / f"{name}.json").read_text())["val/accuracy"]


def test_export_picks_the_best_by_val_and_matches_pytorch(reproduced):
    repo = reproduced[0]
    exported = json.loads((repo / "reports" / "export.json").read_text())["models"]
    results = json.loads((repo / "reports" / "test_metrics.json").read_text())["models"]
    for kind in ("student", "teacher"):
        [name] = [n for n, e in exported.items() if e["kind"] == kind]
        others = [n for n, r in results.items() if r["kind"] == kind]
        assert val_accuracy(repo, f"{kind}s", name) == max(val_accuracy(repo, f"{kind}s", n) for n in others)
        entry = exported[name]
        assert max(entry["max_probability_gap"].values()) < export.PARITY_TOLERANCE
        for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".ts.pt")):
            size = (repo / "models" / "export" / f"{name}{suffix}").stat().st_size
            assert entry["size_mb"][fmt] == round(size / 2**20, 2)
        assert set(entry["speed"]) == {"pytorch", "onnx", "torchscript"}
        summary = (repo / "reports" / "summary.md").read_text()
        assert f"| {name} | {entry['method']} | {100 * results[name]['test']['accuracy']:.1f} |" in summary


def test_precision_check_measures_every_model_at_fp32_and_bf16(reproduced, tmp_path):
    repo = reproduced[0]
    out = tmp_path / "precision.md"
    printed = run(["pawprint", "precision", "--out", str(out)], repo, pipeline_env(repo)).stdout
    results = json.loads((repo / "reports" / "test_metrics.json").read_text())["models"]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.read_text().splitlines()[2:]}
    assert set(rows) == set(results) and out.read_text() in printed
    n = len(np.load(repo / "data" / "splits" / "test.npy", mmap_mode="r"))
    for name, cells in rows.items():
        fp32, bf16 = float(cells[1].rstrip("%")), float(cells[2].rstrip("%"))  # percent, two decimals
        changed, gap = int(cells[4].split()[0]), float(cells[5].rstrip(" |"))
        assert abs(fp32 - 100 * results[name]["test"]["accuracy"]) < 0.006, name  # evaluate: fp32 at 16 px
        assert abs(bf16 - fp32) <= 100 * changed / n + 1e-9, name
        assert 0 < gap < 0.2, (name, gap)  # bf16 rounds every logit a little, and no more


def test_predict_with_the_mlflow_model_agrees_with_evaluate(reproduced, tmp_path):
    repo = reproduced[0]
    exported = json.loads((repo / "reports" / "export.json").read_text())["models"]
    [(best, entry)] = [(n, e) for n, e in exported.items() if e["kind"] == "student"]
    test = np.load(repo / "data" / "splits" / "test.npy")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate(test):  # the cached test images as files: decoding them again changes nothing
        Image.fromarray(image.transpose(1, 2, 0)).save(photos / f"{i:03d}.png")
    expected = [p["predicted"] for p in json.loads((repo / "reports" / "predictions" / f"{best}.json").read_text())[
        "predictions"]]  # fmt: skip
    env = pipeline_env(repo)
    for model in (entry["mlflow_model_uri"], "models:/pawprint-student/latest", best):  # logged, registered, file
        out = run(["pawprint", "predict", "--model", model, str(photos)], repo, env).stdout
        assert [line.split("\t")[1].split()[0] for line in out.splitlines()] == expected, model

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    [export_run] = client.search_runs(
        [client.get_experiment_by_name("pawprint").experiment_id], filter_string="tags.stage = 'export'"
    )
    assert export_run.data.tags["best_student"] == best
    assert (
        export_run.data.metrics[f"export/{best}/onnx/latency_ms_batch1"] == entry["speed"]["onnx"]["latency_ms_batch1"]
    )


@pytest.mark.skipif(not CHROMIUM, reason="needs Chromium (Debian package chromium; .ci/run installs it)")
def test_report_page_renders_in_headless_chromium(reproduced, tmp_path):
    from playwright.sync_api import sync_playwright

    repo = reproduced[0]
    models = json.loads((repo / "reports" / "test_metrics.json").read_text())["order"]
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
            if os.geteuid() == 0 else ["--disable-background-networking", "--disable-component-update"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: None if req.url.startswith(("file:", "data:")) else errors.append(req.url))
        page.goto((repo / "reports" / "index.html").as_uri(), wait_until="load")
        first_column = page.locator("table").first.locator("tbody tr td:nth-child(2)").all_inner_texts()
        broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        images = page.evaluate("document.images.length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []  # no script error, no failed resource, nothing fetched from outside the page
    assert first_column == models
    assert broken == 0 and images >= len(models) + 4  # figures, confusion matrices and gallery thumbnails
    assert (tmp_path / "report.png").stat().st_size > 20_000
