"""MNIST-1D (Greydanus 2020) generated offline with the `mnist1d` package, plus where each digit template lies.

`mnist1d_arrays()` returns the published data set (the `mnist1d_data.pkl` of github.com/greydanus/mnist1d):
4,000 training then 1,000 test signals of length 40, ten classes. The package rebuilds that file with its
default arguments (`get_dataset_args()`, seed 42) through `mnist1d.data.make_dataset`, which needs no network;
`get_dataset` is never called because it downloads by default.

Template masks. The package builds each signal from a 12-sample template: it appends 36..60 zeros, stretches
the result to 72 samples, scales it, rolls it right by 0..47 samples, fills the zeros with correlated noise,
adds iid noise and a linear shear, and resamples to 40. Every random draw in that chain has a fixed size that
does not depend on the signal's values, so running the package's own `transform` on an indicator (ones on the
template, zeros on the padding) from the same generator state, with the value-changing steps set to no-ops
(scale, noise and shear coefficients 0: their draws are still taken), consumes the same draws and moves the
indicator exactly as the digit was moved. After the final linear resampling the indicator is the share of each
output sample that comes from the template; a sample is in the mask when that share is at least one half
(`COVER_THRESHOLD`). The replay re-seeds the package's generator and must end in the same generator state and
the same labels as `make_dataset`; both are checked.

The package draws from NumPy's global generator and reseeds Python's `random`; both states are saved before and
restored after generation, so a caller's random streams are unchanged (another thread drawing from the global
NumPy generator meanwhile would still interleave with it; calls from this module are serialised by a lock).
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

PUBLISHED_SEED = 42
CLASSES = tuple(str(d) for d in range(10))
COVER_THRESHOLD = 0.5  # a sample is in the template mask when at least half of it comes from the template
QUIET = {"scale_coeff": 0.0, "corr_noise_scale": 0.0, "iid_noise_scale": 0.0, "shear_scale": 0.0}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Mnist1dArrays:
    """MNIST-1D signals in published order (train rows, then test rows) with per-sample template masks."""

    x: np.ndarray  # float32 (N, 1, 40)
    y: np.ndarray  # int64 (N,)
    masks: np.ndarray  # bool (N, 40): True where the digit template lies
    split: np.ndarray  # str (N,): "train", "val" (the last train rows, when val_fraction > 0) or "test"
    classes: tuple[str, ...]  # ("0", ..., "9")


def _package() -> SimpleNamespace:
    """The package functions used here, imported on first use (the package's `transform` attribute is the
    function, which shadows its submodule, so names are taken from the submodules)."""
    try:
        from mnist1d.data import get_dataset_args, get_templates, make_dataset
        from mnist1d.transform import transform
        from mnist1d.utils import ObjectView, set_seed
    except ImportError as err:
        raise ImportError(
            "MNIST-1D needs the `mnist1d` package (pip install mnist1d==0.0.2.post1; it imports scipy, "
            f"matplotlib and requests): {err}"
        ) from err
    return SimpleNamespace(
        get_dataset_args=get_dataset_args, get_templates=get_templates, make_dataset=make_dataset,
        transform=transform, ObjectView=ObjectView, set_seed=set_seed,
    )


def dataset_args(seed: int = PUBLISHED_SEED, **overrides):
    """The package's default arguments (those of the published set) with another seed or overrides."""
    args = _package().get_dataset_args(as_dict=True)
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ValueError(f"unknown MNIST-1D arguments {unknown}")
    args.update(overrides, seed=int(seed))
    args["padding"] = list(args["padding"])
    return _package().ObjectView(args)


class _KeptGlobalRandom:
    """Saves NumPy's global generator and Python's `random` on entry and puts both back on exit."""

    def __enter__(self):
        self._np, self._py = np.random.get_state(), random.getstate()
        return self

    def __exit__(self, *exc):
        np.random.set_state(self._np)
        random.setstate(self._py)
        return False


def _template_cover(args, templates) -> tuple[np.ndarray, np.ndarray]:
    """Replays make_dataset's draws on an indicator: the template share of every output sample, and the labels."""
    pkg = _package()
    if args.shuffle_seq:
        raise ValueError("template masks are not derived for shuffle_seq=True")
    quiet = pkg.ObjectView(dict(vars(args), **QUIET))
    indicator = np.ones_like(templates["x"][0])
    pkg.set_seed(args.seed)
    per_class = args.num_samples // len(templates["y"])
    covers, labels = [], []
    for label in templates["y"]:  # the package's order: class by class, in the order of its templates
        for _ in range(per_class):
            cover, _ = pkg.transform(indicator, templates["t"], quiet)
            covers.append(cover)
            labels.append(label)
    order = np.random.permutation(len(labels))
    return np.stack(covers)[order], np.stack(labels)[order]


def _generate(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The package's data set for `args` and the template share of each sample.

    Returns x (N, L) float64, y (N,) int64, cover (N, L) float64 in [0, 1], and the number of training rows;
    rows are the package's train rows followed by its test rows. Global random states are left unchanged.
    """
    pkg = _package()
    templates = pkg.get_templates()
    with _LOCK, _KeptGlobalRandom():
        data = pkg.make_dataset(args, templates)
        after_make = np.random.get_state()
        cover, labels = _template_cover(args, templates)
        after_replay = np.random.get_state()
    x = np.concatenate([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    same_draws = all(np.array_equal(a, b) for a, b in zip(after_make, after_replay))
    if not same_draws or not np.array_equal(labels, y):
        raise RuntimeError("the mask replay did not follow make_dataset's random draws; is this mnist1d version supported?")
    # the indicator is 1 + 1e-8 on the template (the package adds eps), so clip the share to [0, 1]
    return x, y, np.clip(cover, 0.0, 1.0), len(data["y"])


def _check_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")


def split_labels(n_train: int, n_test: int, val_fraction: float = 0.0) -> np.ndarray:
    """Row labels for n_train train rows then n_test test rows: "train", then "val" for the last share of the
    train rows, then "test"."""
    _check_fraction(val_fraction)
    n_val = int(math.floor(val_fraction * n_train + 0.5))  # half rounds up
    return np.array(["train"] * (n_train - n_val) + ["val"] * n_val + ["test"] * n_test)


def mnist1d_arrays(seed: int = PUBLISHED_SEED, val_fraction: float = 0.0) -> Mnist1dArrays:
    """MNIST-1D with template masks: the published set for seed 42, the package's generator with another seed.

    Rows keep the package's order, its 4,000 training rows then its 1,000 test rows; with val_fraction > 0 the
    last val_fraction * 4000 training rows (rounded half up) are labelled "val". x is standardised as the package does it
    (zero mean, unit standard deviation over the whole set). Deterministic; leaves global random states alone.
    """
    _check_fraction(val_fraction)  # before the seconds of generation
    x, y, cover, n_train = _generate(dataset_args(seed))
    return Mnist1dArrays(
        x=x[:, None, :].astype(np.float32),
        y=y,
        masks=cover >= COVER_THRESHOLD,
        split=split_labels(n_train, len(y) - n_train, val_fraction),
        classes=CLASSES,
    )
