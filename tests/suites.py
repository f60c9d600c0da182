"""Small suite files for tests: tiny synthetic data, one quick model, the spine's methods and metrics."""

from __future__ import annotations

from pathlib import Path

from bench.core.config import SuiteConfig, load_suite

TINY = """
[suite]
name = "tiny"
seed = 3

[data]
source = "synthetic"
root = "{root}"
image_size = 64
split = "test"

[data.synthetic]
counts = {{ train = {{ glaucoma = 8, health = 8 }}, val = {{ glaucoma = 4, health = 4 }}, test = {{ glaucoma = 7, health = 6 }} }}

[[models]]
name = "tiny-resnet"
arch = "resnet18"
{model}

[models.train]
epochs = 1
batch_size = 8

{methods}

[[metrics]]
name = "iou_topk"

[[metrics]]
name = "iou_threshold"
params = {{ threshold = 0.75 }}

[[metrics]]
name = "pointing_game"

[[metrics]]
name = "energy_in_mask"

[run]
batch_size = 4
shard_size = 5
device = "cpu"
results = "{results}"

[measure]
enabled = {measure}
batch_size = 2
warmup = 1
repeats = 2

{extra}
"""

METHODS = "\n".join(f'[[methods]]\nname = "{m}"\n' for m in ("inhouse.gradcam", "baseline.random", "baseline.centre", "baseline.constant"))


def tiny_suite(tmp: Path, *, data: Path | None = None, results: str = "results", measure: bool = False, methods: str = METHODS,
               extra: str = "", model: str = "") -> SuiteConfig:
    """Write and load a tiny synthetic suite under tmp (data shared when data is given); extra is TOML appended at the end,
    model TOML added to the model entry (a sweep, say)."""
    path = tmp / "tiny.toml"
    path.write_text(TINY.format(root=data or tmp / "data", results=tmp / results, measure=str(measure).lower(), methods=methods, extra=extra,
                                model=model))
    return load_suite(path)
