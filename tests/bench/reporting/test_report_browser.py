"""The report in a real browser (headless Chromium): no script errors, every image decodes and is not blank, sorting
a table reorders it. Skipped, with the reason, where Chromium is not installed (.ci/run installs Debian's)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from bench.pipeline.stages import run_suite
from bench.reporting.html_report import write_report
from tests.suites import tiny_suite

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Runs before the page's own script: records errors, then after load checks the images and clicks a column head.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const images = [...document.images].map(img => {
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data; let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4 * 97) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
    return {w: img.naturalWidth, h: img.naturalHeight, spread: hi - lo, jpeg: img.src.startsWith('data:image/jpeg')};
  });
  const table = document.querySelector('table.sortable');
  const column = () => [...table.tBodies[0].rows].map(r => r.cells[1].dataset.value);
  const before = column(); table.tHead.rows[0].cells[1].click(); const ascending = column();
  table.tHead.rows[0].cells[1].click(); const descending = column();
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({errors: window.__errors, images, before, ascending, descending});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_the_report_loads_shows_every_figure_and_sorts_in_chromium(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    cfg = tiny_suite(tmp_path, model="sweep = { seed = [0, 1], dropout = [0.0, 0.5] }")
    run_suite(cfg)
    page = write_report(cfg)
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                          "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert result["errors"] == []
    assert any(i["jpeg"] for i in result["images"]), "no gallery image"
    assert result["images"] and all(i["w"] > 50 and i["h"] > 50 and i["spread"] > 20 for i in result["images"])
    numbers = lambda values: [float(v) for v in values if v != ""]  # noqa: E731
    assert numbers(result["ascending"]) == sorted(numbers(result["before"]))
    assert numbers(result["descending"]) == sorted(numbers(result["before"]), reverse=True)
