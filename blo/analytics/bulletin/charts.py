"""The bulletin's charts, drawn with matplotlib's object API (no pyplot, no global
backend: a :class:`~matplotlib.figure.Figure` saved by the Agg/SVG canvases), in DejaVu Sans,
the font matplotlib bundles (Latin and Cyrillic), with no network.

The map reuses the dashboard's country outlines (``blo/api/static/central-asia.json``:
SVG path data already projected, Lambert conformal conic, and the projection's constants
to place the posts the same way; see MAP-DATA.txt there). Posts the outlines do not reach
(imported US offices) are drawn by longitude and latitude without outlines.

Output is deterministic: SVG ids from a fixed salt, no dates in metadata.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath

from blo.analytics.bulletin.figures import MICRO, DrugLine, Post, PostLine
from blo.analytics.bulletin.strings import Lang, drug_name, kg, number, text

FONT = "DejaVu Sans"
RC: dict[str, Any] = {
    "font.family": "sans-serif", "font.sans-serif": [FONT], "font.size": 9,
    "svg.hashsalt": "blo-bulletin", "svg.fonttype": "path", "axes.unicode_minus": True,
    "path.simplify": False,
}
INK, MUTED, ACCENT, LAND, FOCUS = "#1d2b36", "#6b7b88", "#b03a2e", "#eef1f3", "#dde4ea"
ChartFormat = Literal["svg", "png"]


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


def render(fig: Figure, fmt: ChartFormat, dpi: int = 150) -> bytes:
    """The figure as SVG text (UTF-8) or PNG, without dates or software stamps."""
    buf = io.BytesIO()
    with _style():
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        else:
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


# -- seizures by drug -------------------------------------------------------------------
def drugs_chart(drugs: Sequence[DrugLine], lang: Lang, top: int = 12) -> Figure:
    """Horizontal bars: kilograms seized per drug (the ``top`` heaviest)."""
    shown = [d for d in drugs if d.ukg > 0][:top]
    with _style():
        fig = Figure(figsize=(6.4, 0.35 * max(len(shown), 2) + 0.9))
        ax = fig.add_subplot()
        names = [drug_name(d.drug, lang) for d in reversed(shown)]
        values = [d.ukg / MICRO for d in reversed(shown)]
        ax.barh(range(len(values)), values, color=ACCENT, height=0.6)
        ax.set_yticks(range(len(values)), names)
        for i, v in enumerate(values):
            ax.annotate(number(v, lang, 1), (v, i), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8, color=INK)
        ax.set_xlabel(text("kg", lang))
        ax.set_title(text("seizures_by_drug", lang), loc="left", color=INK)
        _plain(ax)
        if not shown:
            ax.text(0.5, 0.5, text("no_data", lang), transform=ax.transAxes, ha="center",
                    color=MUTED)
            ax.set_yticks([])
        fig.tight_layout()
    return fig


# -- the map ----------------------------------------------------------------------------
@cache
def map_data() -> dict[str, Any]:
    raw = (files("blo") / "api" / "static" / "central-asia.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


def project(lon: float, lat: float, p: dict[str, float]) -> tuple[float, float]:
    """(lon, lat) → map units: the Lambert conformal conic of the map file (as the
    dashboard's geo.js ``makeProjection``)."""
    r = math.pi / 180

    def q(phi: float) -> float:
        return math.tan(math.pi / 4 + phi / 2)

    p1, p2, p0 = p["lat1"] * r, p["lat2"] * r, p["lat0"] * r
    n = math.log(math.cos(p1) / math.cos(p2)) / math.log(q(p2) / q(p1))
    f = math.cos(p1) * q(p1) ** n / n
    rho0 = f / q(p0) ** n
    rho = f / q(lat * r) ** n
    t = n * (lon - p["lon0"]) * r
    x, y = rho * math.sin(t), rho0 - rho * math.cos(t)
    return (x - p["x0"]) * p["k"], (p["y1"] - y) * p["k"]


_PATH_TOKEN = re.compile(r"([MLZ])([^MLZ]*)")


def svg_path(d: str) -> MplPath:
    """SVG path data of ``M``, ``L`` and ``Z`` commands (the map file's) as a matplotlib
    path."""
    verts: list[tuple[float, float]] = []
    codes: list[Any] = []
    for cmd, args in _PATH_TOKEN.findall(d):
        if cmd == "Z":
            if verts:
                verts.append(verts[-1])
                codes.append(MplPath.CLOSEPOLY)
            continue
        nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", args)]
        for i in range(0, len(nums) - 1, 2):
            verts.append((nums[i], nums[i + 1]))
            codes.append(MplPath.MOVETO if cmd == "M" and i == 0 else MplPath.LINETO)
    return MplPath(verts, codes)


def map_chart(posts: Sequence[Post], lines: Sequence[PostLine], lang: Lang) -> Figure:
    """The scope's posts on the map, a circle per post sized by kilograms seized, labelled
    with its name, kilograms and refusals."""
    data = map_data()
    proj = data["projection"]
    x0, y0, x1, y1 = data["extent"]
    figures = {p.station_id: p.totals for p in lines}
    placed = [(p, project(p.lon, p.lat, proj)) for p in posts
              if p.lat is not None and p.lon is not None]
    inside = [(p, xy) for p, xy in placed if x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1]
    with _style():
        fig = Figure(figsize=(6.4, 5.0))
        ax = fig.add_subplot()
        ax.set_title(text("map", lang), loc="left", color=INK)
        if not placed:
            ax.text(0.5, 0.5, text("map_no_coords", lang), transform=ax.transAxes,
                    ha="center", color=MUTED)
            ax.set_axis_off()
            return fig
        if len(inside) == len(placed):
            pts = [xy for _, xy in inside]
            for c in data["countries"]:
                ax.add_patch(PathPatch(svg_path(c["d"]), facecolor=FOCUS if c["focus"]
                                       else LAND, edgecolor="#9aa8b3", linewidth=0.5))
                if c["focus"] and "label" in c:
                    lx, ly = c["label"]
                    ax.text(lx, ly, c["iso"], color=MUTED, fontsize=8, ha="center",
                            clip_on=True)
            ax.invert_yaxis()
            ax.set_aspect("equal")
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            pad = max(80.0, 0.15 * max(max(xs) - min(xs), max(ys) - min(ys)))
            w, h = max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad
            aspect = (0.96 * 6.4) / (0.85 * 5.0)  # the axes' shape: fill it
            w, h = max(w, h * aspect), max(h, w / aspect)
            cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
            ax.set_xlim(cx - w / 2, cx + w / 2)
            ax.set_ylim(cy + h / 2, cy - h / 2)
            shown = inside
        else:  # outside the outlines: longitude/latitude
            shown = [(p, (p.lon or 0.0, p.lat or 0.0)) for p, _ in placed]
            ax.set_xlabel("lon")
            ax.set_ylabel("lat")
            ax.text(0.0, -0.12, text("map_outside", lang), transform=ax.transAxes,
                    fontsize=7, color=MUTED)
        top = max((figures[p.station_id].seizure_ukg for p, _ in shown
                   if p.station_id in figures), default=0)
        for p, (x, y) in shown:
            t = figures.get(p.station_id)
            ukg = t.seizure_ukg if t else 0
            size = 20 + (280 * math.sqrt(ukg / top) if top else 0)
            ax.scatter([x], [y], s=size, color=ACCENT if ukg else MUTED, alpha=0.75,
                       edgecolors="white", linewidths=0.6, zorder=3)
            label = f"{p.name}\n{kg(ukg, lang)} {text('kg', lang)}"
            if t and t.refused:
                label += f" · {text('refused_short', lang)} {number(t.refused, lang)}"
            ax.annotate(label, (x, y), xytext=(5, 3), textcoords="offset points",
                        fontsize=6.5, color=INK, zorder=4)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.08)
    return fig


# -- routes -----------------------------------------------------------------------------
STAGES = ("producing", "departure", "transit", "destination")


def route_nodes(flow: Any, lang: Lang) -> tuple[str, str, str, str]:
    """A flow's node in each stage: the country (``?`` unknown), the transit countries
    joined by arrows (``–`` none)."""
    unknown = "?"
    transit = "→".join(flow.transit) if flow.transit else "–"
    return (flow.producing or unknown, flow.departure or unknown, transit,
            flow.destination or unknown)


def routes_chart(flows: Sequence[Any], lang: Lang) -> Figure:
    """Producing → departure → transit → destination, bands as wide as the kilograms
    (a Sankey diagram of four columns)."""
    with _style():
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.add_subplot()
        ax.set_title(text("routes", lang), loc="left", color=INK)
        ax.set_axis_off()
        weighted = [(route_nodes(f, lang), float(f.kg)) for f in flows if f.kg > 0]
        total = sum(w for _, w in weighted)
        if not total:
            ax.text(0.5, 0.5, text("routes_none", lang), transform=ax.transAxes,
                    ha="center", color=MUTED)
            return fig
        gap = 0.04
        col_x = [0.0, 1.0, 2.0, 3.0]
        width = 0.12
        nodes: list[dict[str, float]] = []
        for stage in range(4):
            w: dict[str, float] = defaultdict(float)
            for keys, kgs in weighted:
                w[keys[stage]] += kgs
            order = sorted(w, key=lambda k: (-w[k], k))
            scale = (1 - gap * (len(order) - 1)) / total
            y, pos = 0.0, {}
            for k in order:
                pos[k] = y
                h = w[k] * scale
                ax.add_patch(Rectangle((col_x[stage] - width / 2, y), width, h,
                                       color=INK, zorder=3))
                ax.text(col_x[stage] + width / 2 + 0.03, y + h / 2,
                        f"{k} {number(w[k], lang, 1)}", va="center", fontsize=7, color=INK,
                        zorder=4)
                y += h + gap
            nodes.append(pos)
            ax.text(col_x[stage], -0.06, text(STAGES[stage], lang), ha="center",
                    fontsize=8, color=MUTED)
        for stage in range(3):
            links: dict[tuple[str, str], float] = defaultdict(float)
            for keys, kgs in weighted:
                links[(keys[stage], keys[stage + 1])] += kgs
            out_at = dict(nodes[stage])
            in_at = dict(nodes[stage + 1])
            scale = (1 - gap * (len(nodes[stage]) - 1)) / total
            scale_in = (1 - gap * (len(nodes[stage + 1]) - 1)) / total
            for (a, b), kgs in sorted(links.items(), key=lambda kv: (-kv[1], kv[0])):
                ha, hb = kgs * scale, kgs * scale_in
                ya, yb = out_at[a], in_at[b]
                out_at[a] += ha
                in_at[b] += hb
                ax.add_patch(_band(col_x[stage] + width / 2, ya, ha,
                                   col_x[stage + 1] - width / 2, yb, hb))
        ax.set_xlim(-0.2, 3.9)
        ax.set_ylim(1.02, -0.1)
        fig.tight_layout()
    return fig


def _band(xa: float, ya: float, ha: float, xb: float, yb: float, hb: float) -> Polygon:
    steps = 24
    top, bottom = [], []
    for i in range(steps + 1):
        s = i / steps
        e = s * s * (3 - 2 * s)  # smoothstep
        x = xa + (xb - xa) * s
        top.append((x, ya + (yb - ya) * e))
        bottom.append((x, ya + ha + (yb + hb - ya - ha) * e))
    return Polygon(top + bottom[::-1], closed=True, facecolor=ACCENT, alpha=0.35,
                   edgecolor="none", zorder=2)


def _plain(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=INK, labelsize=8)
