"""The dashboard as one self-contained HTML page: Chart.js (vendored, pinned) inlined, the data as JSON.

The page works offline (no request leaves it). Its script draws one chart per entry of the data, shows "no
data" where a metric does not exist yet, and records what it drew on the page itself (`data-points` per
chart, `data-charts-rendered` and `data-ready` on the body, script errors in `#page-errors`), which is what
the headless-browser test reads.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path
from typing import Any

from smart_vault.cli.drills import drill_rows

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
CHART_JS = VENDOR_DIR / "chart.umd.min.js"
CHART_JS_VERSION = "4.5.1"  # npm chart.js, dist/chart.umd.min.js; update the digest with the file
CHART_JS_SHA256 = "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a"

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#1b1f24;background:#f6f8fa}
h1{font-size:22px;margin:0 0 4px}.sub{color:#57606a;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px}
.card h2{font-size:15px;margin:0 0 8px}.no-data{color:#6e7781;font-style:italic;padding:40px 0;text-align:center}
canvas{width:100%!important;height:240px!important}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2}
.ALARM{color:#cf222e;font-weight:600}.OK{color:#1a7f37}.INSUFFICIENT_DATA{color:#9a6700}
.wide{grid-column:1/-1}.notes{color:#9a6700}#page-errors{color:#cf222e;white-space:pre}
"""

SCRIPT = """
window.addEventListener('error', function (e) {
  document.getElementById('page-errors').textContent += String(e.message) + '\\n';
});
(function () {
  var data = JSON.parse(document.getElementById('dashboard-data').textContent);
  var colors = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#57606a'];
  var rendered = 0;
  data.charts.forEach(function (chart) {
    var box = document.getElementById('chart-' + chart.id);
    var canvas = box.querySelector('canvas');
    var points = chart.series.reduce(function (n, s) { return n + s.points.length; }, 0);
    if (!points) { canvas.remove(); box.querySelector('.no-data').hidden = false; box.dataset.points = '0'; return; }
    var drawn = new Chart(canvas, {
      type: chart.kind,
      data: {datasets: chart.series.map(function (s, i) {
        return {label: s.label, data: s.points.map(function (p) { return {x: p[0], y: p[1]}; }),
                borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length],
                pointRadius: 4, barThickness: 12};
      })},
      options: {animation: false, responsive: false, parsing: true,
        plugins: {legend: {position: 'bottom'}},
        scales: {
          x: {type: 'linear', min: data.window[0], max: data.window[1], ticks: {maxTicksLimit: 6, callback: function (v) {
            return new Date(v).toISOString().slice(5, 16).replace('T', ' ');
          }}},
          y: {beginAtZero: true, title: {display: true, text: chart.y_title}}}}
    });
    box.dataset.points = String(drawn.data.datasets.reduce(function (n, d) { return n + d.data.length; }, 0));
    box.dataset.series = String(drawn.data.datasets.length);
    rendered += 1;
  });
  document.body.dataset.chartsRendered = String(rendered);
  document.body.dataset.ready = 'true';
})();
"""


def chart_js() -> str:
    """The vendored Chart.js, checked against its pinned digest."""
    raw = CHART_JS.read_bytes()
    if hashlib.sha256(raw).hexdigest() != CHART_JS_SHA256:
        raise RuntimeError(f"{CHART_JS} is not Chart.js {CHART_JS_VERSION} as pinned (digest differs)")
    return raw.decode("utf-8")


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element (no `</script>` can close it early)."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def _table(headers: list[str], rows: list[list[Any]], empty: str, state_column: int | None = None) -> str:
    if not rows:
        return f'<p class="no-data">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = html.escape("-" if value is None else str(value))
            css = f' class="{text}"' if i == state_column else ""
            cells.append(f"<td{css}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def chart_cards(charts: list[dict[str, Any]]) -> str:
    cards = []
    for chart in charts:
        metrics = ", ".join(chart["metrics"])
        cards.append(
            f'<div class="card" id="chart-{html.escape(chart["id"])}" data-chart="{html.escape(chart["id"])}">'
            f"<h2>{html.escape(chart['title'])}</h2><canvas></canvas>"
            f'<p class="no-data" hidden>no data: {html.escape(metrics)} not reported yet</p></div>'
        )
    return "".join(cards)


def render_page(data: dict[str, Any]) -> str:
    """The whole page: `data` has charts, alarms, drills, notes, title and generated_at."""
    drills = data.get("drills")
    drill_html = (
        _table(["instance", "name", "when", "status", "RTO", "slowest stage", "leftovers"],
               [list(r) for r in drill_rows(drills, data["now"])], "no drill results yet")
        if drills is not None
        else f'<p class="no-data">{html.escape(data.get("drills_note") or "no restore API to read drills from")}</p>'
    )  # fmt: skip
    alarm_rows = [[a["state"], a["name"], a["region"], a["metric"]] for a in data.get("alarms", [])]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.get("notes", []))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(data["title"])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body data-ready="false"><h1>{html.escape(data["title"])}</h1>
<p class="sub">{html.escape(data["subtitle"])}</p>
<ul class="notes">{notes}</ul><div id="page-errors"></div>
<div class="grid">{chart_cards(data["charts"])}
<div class="card wide" id="drill-table"><h2>Latest drill per instance</h2>{drill_html}</div>
<div class="card wide" id="alarms"><h2>Alarms</h2>{_table(["state", "alarm", "region", "metric"], alarm_rows, "no alarms", 0)}</div>
</div>
<script type="application/json" id="dashboard-data">{_script_json({"charts": data["charts"], "window": data["window"]})}</script>
<script>{chart_js()}</script>
<script>{SCRIPT}</script>
</body></html>
"""
