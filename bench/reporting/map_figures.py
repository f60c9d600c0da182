"""Gallery figures: maps drawn over their inputs with the mask's outline, one stated colormap and scaling.

Scaling: each map is shown from its own minimum (0) to its own maximum (1), or, in the shared-scale view, from the
smallest to the largest value over one row (one sample, every implementation), so that differences in magnitude show.
The figures are JPEG: photographs under heatmaps compress about five times better than as PNG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from bench.reporting.figures import COLORMAP, pyplot

THUMB_INCHES = 1.6
DPI = 100


@dataclass(frozen=True)
class Cell:
    """One panel: a sample (image (*S, 3) or signal (L,)) with its mask, the map drawn over it (None: the input alone, or
    no map where `failed`), the title above and the caption below."""

    sample: np.ndarray
    mask: np.ndarray | None
    heat: np.ndarray | None = None
    title: str = ""
    caption: str = ""
    failed: bool = False


def _jpeg(fig) -> bytes:  # noqa: ANN001
    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=DPI, bbox_inches="tight", pil_kwargs={"quality": 85})
    pyplot().close(fig)
    return buffer.getvalue()


def scaled(maps: list[np.ndarray | None], shared: bool) -> list[np.ndarray | None]:
    """Maps mapped to [0, 1]: each by its own finite range, or all by their common one; a map without finite values stays None."""
    finite = [m[np.isfinite(m)] if m is not None else np.empty(0) for m in maps]
    pooled = np.concatenate([f for f in finite if f.size]) if any(f.size for f in finite) else np.empty(0)
    out = []
    for m, f in zip(maps, finite, strict=True):
        if m is None or not f.size:
            out.append(None)
            continue
        low, high = (pooled.min(), pooled.max()) if shared else (f.min(), f.max())
        # A constant map has no order to show: drawn at the bottom of the scale, not divided by zero.
        out.append(np.clip((m - low) / (high - low), 0, 1) if high > low else np.zeros_like(m))
    return out


def _draw(ax, sample: np.ndarray, mask: np.ndarray | None, heat: np.ndarray | None, failed: bool) -> None:  # noqa: ANN001
    if sample.ndim == 1:
        low, high = float(sample.min()), float(sample.max())
        if heat is not None:
            ax.imshow(heat[None, :], aspect="auto", cmap=COLORMAP, vmin=0, vmax=1, extent=(0, len(sample), low, high), alpha=0.85)
        ax.plot(np.arange(len(sample)) + 0.5, sample, color="black" if heat is None else "white", lw=1)
        ax.set_xlim(0, len(sample))
        ax.set_ylim(low, high + 1e-9)
    else:
        ax.imshow(sample if heat is None else sample.mean(-1), cmap=None if heat is None else "gray", vmin=0, vmax=1)
        if heat is not None:
            ax.imshow(heat, cmap=COLORMAP, vmin=0, vmax=1, alpha=0.6)
        if mask is not None and mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=0.8)
    if failed:
        ax.text(0.5, 0.5, "no map", transform=ax.transAxes, ha="center", va="center", fontsize=8, color="red")
    ax.set_xticks([])
    ax.set_yticks([])


def map_grid(rows: list[list[Cell]], *, shared: bool, note: str) -> bytes:
    """Rows of panels, maps scaled each by its own range or shared over the row's maps, with one colour bar."""
    plt = pyplot()
    columns = max(len(r) for r in rows)
    height = (THUMB_INCHES + 0.6) * len(rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(THUMB_INCHES * columns, height), squeeze=False)
    for i, cells in enumerate(rows):
        heats = scaled([c.heat for c in cells], shared)
        for j in range(columns):
            ax = axes[i][j]
            if j >= len(cells):
                ax.axis("off")
                continue
            cell = cells[j]
            # A map with no finite value (a failed batch stores NaN) is shown as missing, like a failure.
            _draw(ax, cell.sample, cell.mask, heats[j], cell.failed or (cell.heat is not None and heats[j] is None))
            ax.set_title(cell.title, fontsize=6)
            ax.set_xlabel(cell.caption, fontsize=6)
    bar = fig.colorbar(plt.cm.ScalarMappable(cmap=COLORMAP, norm=plt.Normalize(0, 1)), ax=axes, orientation="horizontal",
                       fraction=0.12 / height, pad=0.45 / height, aspect=40)
    bar.set_label(note, fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return _jpeg(fig)
