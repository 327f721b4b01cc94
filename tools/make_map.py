"""Build blo/api/static/central-asia.json from world-atlas 2.0.2 countries-50m.json
(Natural Earth 4.1.0 admin-0 countries, 1:50m, public domain; world-atlas: ISC).

Projects to a Lambert conformal conic, simplifies each shared arc once (borders stay
identical on both sides), clips to the frame and writes SVG path strings.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python tools/make_map.py package/countries-50m.json blo/api/static/central-asia.json

The projection is computed again in blo/api/static/js/geo.js (station positions): change
both together. Not part of the package or the tests; kept so the map can be rebuilt."""
import json
import math
import sys

import pycountry

SRC, OUT = sys.argv[1], sys.argv[2]
FOCUS = {"KZ", "KG", "TJ", "TM", "UZ", "AF"}
PROJ = {"type": "lcc", "lon0": 66.0, "lat0": 42.0, "lat1": 36.0, "lat2": 50.0}
WIDTH = 1000.0
TOL = 0.3  # px, Douglas-Peucker
LABELS = {  # lon, lat of each country's label
    "KZ": (68.5, 48.6), "KG": (74.6, 41.75), "TJ": (71.3, 38.75), "UZ": (62.9, 42.3),
    "TM": (58.4, 39.4), "AF": (65.6, 33.8), "CN": (82.3, 38.2), "RU": (62.0, 54.6),
    "IR": (56.0, 33.3), "PK": (69.7, 30.0),    "IN": (76.2, 33.4),
}

r = math.radians
p1, p2, p0 = r(PROJ["lat1"]), r(PROJ["lat2"]), r(PROJ["lat0"])
n = math.log(math.cos(p1) / math.cos(p2)) / math.log(
    math.tan(math.pi / 4 + p2 / 2) / math.tan(math.pi / 4 + p1 / 2))
F = math.cos(p1) * math.tan(math.pi / 4 + p1 / 2) ** n / n
rho0 = F / math.tan(math.pi / 4 + p0 / 2) ** n


def lcc(lon, lat):
    rho = F / math.tan(math.pi / 4 + r(lat) / 2) ** n
    t = n * r(lon - PROJ["lon0"])
    return rho * math.sin(t), rho0 - rho * math.cos(t)


topo = json.load(open(SRC))
sx, sy = topo["transform"]["scale"]
tx, ty = topo["transform"]["translate"]
arcs_ll = []
for arc in topo["arcs"]:
    x = y = 0
    pts = []
    for dx, dy in arc:
        x += dx
        y += dy
        pts.append((x * sx + tx, y * sy + ty))
    arcs_ll.append(pts)

geoms = []
for g in topo["objects"]["countries"]["geometries"]:
    gid = g.get("id")
    c = pycountry.countries.get(numeric=gid) if gid else None
    iso = c.alpha_2 if c else None
    name = g["properties"]["name"]
    polys = [g["arcs"]] if g["type"] == "Polygon" else g["arcs"] if g["type"] == "MultiPolygon" else []
    geoms.append((iso, name, polys))

# frame: the focus countries' extent in projection units, padded
fx, fy = [], []
for iso, name, polys in geoms:
    if iso in FOCUS:
        for poly in polys:
            for ring in poly:
                for a in ring:
                    for lon, lat in arcs_ll[a if a >= 0 else ~a]:
                        x, y = lcc(lon, lat)
                        fx.append(x)
                        fy.append(y)
x0, x1, y0, y1 = min(fx), max(fx), min(fy), max(fy)
pad = 0.025 * (x1 - x0)
x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
k = WIDTH / (x1 - x0)
HEIGHT = round((y1 - y0) * k)


def px(lon, lat):
    x, y = lcc(lon, lat)
    return (x - x0) * k, (y1 - y) * k


def dp(pts, tol):
    if len(pts) < 3:
        return pts
    keep = [False] * len(pts)
    keep[0] = keep[-1] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        a, b = stack.pop()
        ax, ay = pts[a]
        bx, by = pts[b]
        dx, dy = bx - ax, by - ay
        L = math.hypot(dx, dy)
        best, bi = -1.0, -1
        for i in range(a + 1, b):
            qx, qy = pts[i]
            d = abs(dy * (qx - ax) - dx * (qy - ay)) / L if L else math.hypot(qx - ax, qy - ay)
            if d > best:
                best, bi = d, i
        if best > tol:
            keep[bi] = True
            stack += [(a, bi), (bi, b)]
    return [p for p, kp in zip(pts, keep) if kp]


arcs_px = [dp([px(lon, lat) for lon, lat in arc], TOL) for arc in arcs_ll]

# clip well outside the frame: wide panels show more of the neighbours
CL, CT, CR, CB = -360, -90, WIDTH + 360, HEIGHT + 90


def clip(ring):
    def edge(pts, inside, cross):
        out = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        return out

    def cx(xv):
        return lambda a, b: (xv, a[1] + (b[1] - a[1]) * (xv - a[0]) / (b[0] - a[0]))

    def cy(yv):
        return lambda a, b: (a[0] + (b[0] - a[0]) * (yv - a[1]) / (b[1] - a[1]), yv)

    pts = ring
    for inside, cross in ((lambda p: p[0] >= CL, cx(CL)), (lambda p: p[0] <= CR, cx(CR)),
                          (lambda p: p[1] >= CT, cy(CT)), (lambda p: p[1] <= CB, cy(CB))):
        if not pts:
            break
        pts = edge(pts, inside, cross)
    return pts


def area(ring):
    return abs(sum(ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1]
                   for i in range(len(ring)))) / 2


countries = []
for iso, name, polys in geoms:
    parts = []
    for poly in polys:
        for ring_arcs in poly:
            ring = []
            lls = [p for a in ring_arcs for p in arcs_ll[a if a >= 0 else ~a]]
            if (max(p[0] for p in lls) < 35 or min(p[0] for p in lls) > 100
                    or max(p[1] for p in lls) < 20 or min(p[1] for p in lls) > 65):
                continue
            for a in ring_arcs:
                pts = arcs_px[a] if a >= 0 else arcs_px[~a][::-1]
                ring.extend(pts if not ring else pts[1:])
            ring = clip(ring)
            if len(ring) >= 3 and area(ring) >= 0.4:
                # dedupe consecutive equal points after rounding
                rr = []
                for x, y in ring:
                    q = (round(x, 1), round(y, 1))
                    if not rr or rr[-1] != q:
                        rr.append(q)
                if len(rr) >= 3:
                    parts.append(rr)
    if not parts:
        continue

    def fmt(v):
        s = f"{v:.1f}"
        return s.removesuffix(".0")

    d = "".join("M" + "L".join(f"{fmt(x)},{fmt(y)}" for x, y in ring) + "Z" for ring in parts)
    c = {"iso": iso or "", "name": name, "focus": iso in FOCUS, "d": d}
    if iso in LABELS:
        lx, ly = px(*LABELS[iso])
        c["label"] = [round(lx), round(ly)]
    countries.append(c)

countries.sort(key=lambda c: (c["focus"], c["iso"]))
doc = {
    "source": "Natural Earth 1:50m Cultural Vectors, Admin 0 - Countries, version 4.1.0 "
              "(public domain, naturalearthdata.com), as TopoJSON in the npm package "
              "world-atlas 2.0.2 (ISC licence, Copyright 2013-2019 Michael Bostock); "
              "projected, simplified (shared borders once, 0.3 px) and clipped for this map. "
              "Natural Earth shows de facto boundaries.",
    "projection": {**PROJ, "x0": x0, "y1": y1, "k": k},
    "water": [{"name": "Caspian Sea", "at": [round(v) for v in px(51.2, 40.4)]}],
    "width": WIDTH, "extent": [CL, CT, CR, CB], "height": HEIGHT,
    "countries": countries,
}
json.dump(doc, open(OUT, "w"), separators=(",", ":"))
print(len(countries), "countries", WIDTH, HEIGHT, [c["iso"] for c in countries])
