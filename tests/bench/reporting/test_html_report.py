"""The HTML report: self-contained, every figure a decodable, non-blank image, tables sortable, baselines marked."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.pipeline.stages import run_suite
from bench.reporting.figures import pareto_front
from bench.reporting.html_report import write_report
from tests.suites import tiny_suite


class _Page(HTMLParser):
    """The page's images, table rows and external references."""

    def __init__(self) -> None:
        super().__init__()
        self.images, self.rows, self.external = [], [], []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        if tag == "tr":
            self.rows.append(a.get("class", ""))
        for key in ("src", "href"):
            if key in a and not a[key].startswith(("data:", "#")):
                self.external.append(a[key])


def test_pareto_front_keeps_the_points_nothing_beats() -> None:
    cost, quality = np.array([1.0, 2.0, 3.0, 2.5]), np.array([0.2, 0.5, 0.9, 0.4])
    assert pareto_front(cost, quality, True).tolist() == [True, True, True, False]
    assert pareto_front(cost, quality, False).tolist() == [True, False, False, False]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_report_of_a_grid_suite_is_one_offline_page_with_real_figures(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path, model='sweep = { seed = [0, 1], dropout = [0.0, 0.5] }', measure=True)
    run_suite(cfg)
    page = write_report(cfg).read_text()
    parsed = _Page()
    parsed.feed(page)
    assert parsed.external == [] and "<script>" in page and "sortable" in page
    assert len(parsed.images) >= 4  # cost scatters, study figures per metric, confusion matrices
    assert 'alt="runtime_ms_median against iou_topk' in page and 'alt="peak_memory_mib against iou_topk' in page
    for src in parsed.images:
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L"), dtype=float)
        assert image.shape[0] > 50 and image.std() > 5  # decodes, and is not one flat colour
    leaderboard = _Page()
    leaderboard.feed(page.split("<h2 id='gallery'>")[0])
    assert leaderboard.rows.count("baseline") == 3 * 2  # three baselines in each setting's one (localisation) table
    assert re.search(r"<h2 id='[^']*'>Study: metrics against factors</h2><h3>dropout</h3>", page)


GRADCAMS = "\n".join(f'[[methods]]\nname = "{m}"\n' for m in ("inhouse.gradcam", "captum.gradcam", "gradcam.gradcam", "baseline.centre"))
DELETION = '[[metrics]]\nname = "deletion_auc"\nparams = { steps = 8 }\n\n[agreement]\nenabled = true\n'


def test_the_gallery_shows_implementations_side_by_side_and_curves_are_published(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path, methods=GRADCAMS, extra=DELETION)
    run_suite(cfg)
    out = cfg.results_dir()
    curves = pd.read_csv(out / "curves.csv")
    deletion = curves[(curves["kind"] == "perturbation") & (curves["implementation"] == "inhouse.gradcam")]
    assert deletion["value"].tolist() == pytest.approx([i / 8 for i in range(9)])
    assert (deletion["ci_low"] <= deletion["mean"] + 1e-9).all() and (deletion["mean"] <= deletion["ci_high"] + 1e-9).all()
    # The curve's trapezoid area is the leaderboard's deletion AUC (both the mean over the same samples).
    board = pd.read_csv(out / "leaderboard.csv").set_index("implementation")
    assert np.trapezoid(deletion["mean"], deletion["value"]) == pytest.approx(board.loc["inhouse.gradcam", cfg.metrics[-1].column()], abs=1e-4)
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 13 and np.allclose(predictions[["p.glaucoma", "p.health"]].sum(axis=1), 1, atol=1e-5)

    page = write_report(cfg).read_text()
    assert "gradcam: inhouse.gradcam | captum.gradcam | gradcam.gradcam" in page
    parsed = _Page()
    parsed.feed(page)
    jpegs = [s for s in parsed.images if s.startswith("data:image/jpeg")]
    assert len(jpegs) >= 3  # per-map, shared-scale and best/median/worst grids of Grad-CAM
    for src in jpegs:
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L"), dtype=float)
        assert image.shape[0] > 100 and image.std() > 10
    for section in ("Gallery", "Curves", "Agreement", "Classifiers", "Failures and undefined values", "Methods"):
        assert f"<h2 id='{section.lower().replace(' ', '-')}'>{section}</h2>" in page
