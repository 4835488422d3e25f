"""`reports/index.html`: the run's report as one self-contained page (images embedded as data URIs), so it
can be mailed, attached to an MLflow run or opened from a DVC remote with nothing beside it."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from pawprint.reports import Table

THUMBNAIL = 72  # pixels: cached test images are 36-74 px; big enough to see, small enough for a page of them
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f2f2f2; } td:first-child, td:nth-child(2) { text-align: left; }
figure { display: inline-block; margin: 4px; text-align: center; font-size: 12px; }
img.plot { max-width: 100%; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def thumbnail(image: np.ndarray) -> str:
    """A (3, S, S) uint8 image as an embedded PNG, scaled to THUMBNAIL pixels."""
    img = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).resize((THUMBNAIL, THUMBNAIL))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return data_uri(buf.getvalue())


def mistakes(predictions: list[dict], images: np.ndarray, limit: int) -> list[tuple[str, str, str]]:
    """The first `limit` test images a model got wrong (test order): (thumbnail, true, predicted)."""
    wrong = [i for i, p in enumerate(predictions) if p["actual"] != p["predicted"]][:limit]
    return [(thumbnail(images[i]), predictions[i]["actual"], predictions[i]["predicted"]) for i in wrong]


def html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(
    title: str,
    tables: list[tuple[str, Table]],
    figures: list[tuple[str, Path]],
    galleries: dict[str, list[tuple[str, str, str]]],
) -> str:
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]  # fmt: skip
    for heading, table in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>{html_table(table)}")
    for heading, path in figures:
        alt = html.escape(heading)
        parts.append(f"<h2>{alt}</h2><img class=plot alt='{alt}' src='{data_uri(path.read_bytes())}'>")
    parts.append("<h2>Test images each model got wrong</h2>")
    for model, items in galleries.items():
        parts.append(f"<h3>{html.escape(model)}</h3><div class=gallery>")
        for uri, actual, predicted in items:
            label = f"true {html.escape(actual)}, predicted {html.escape(predicted)}"
            parts.append(f"<figure><img src='{uri}' alt='{label}'><figcaption>{label}</figcaption></figure>")
        parts.append("</div>" if items else "<p>none</p></div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
