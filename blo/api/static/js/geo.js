/* The map's geometry, pure: the projection of central-asia.json, the graticule, the view
 * box that fits the stations, markers spread apart where they would overlap, and where
 * each station's label goes. Map units are the projection's; "screen" is CSS pixels. */

/** The Lambert conformal conic projection described by the map file's ``projection``:
 * (lon, lat) -> [x, y] in map units. */
export function makeProjection(p) {
  const r = Math.PI / 180;
  const p1 = p.lat1 * r;
  const p2 = p.lat2 * r;
  const p0 = p.lat0 * r;
  const q = (phi) => Math.tan(Math.PI / 4 + phi / 2);
  const n = Math.log(Math.cos(p1) / Math.cos(p2)) / Math.log(q(p2) / q(p1));
  const F = (Math.cos(p1) * q(p1) ** n) / n;
  const rho0 = F / q(p0) ** n;
  return (lon, lat) => {
    const rho = F / q(lat * r) ** n;
    const t = n * (lon - p.lon0) * r;
    const x = rho * Math.sin(t);
    const y = rho0 - rho * Math.cos(t);
    return [(x - p.x0) * p.k, (p.y1 - y) * p.k];
  };
}

/** An SVG path through the points. */
export function pathOf(points) {
  return `M${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join('L')}`;
}

/** The graticule (every 5°) as one SVG path. */
export function graticule(proj) {
  const grat = [];
  for (let lon = 40; lon <= 95; lon += 5) {
    const pts = [];
    for (let lat = 24; lat <= 60; lat += 1) pts.push(proj(lon, lat));
    grat.push(pathOf(pts));
  }
  for (let lat = 25; lat <= 60; lat += 5) {
    const pts = [];
    for (let lon = 35; lon <= 100; lon += 1) pts.push(proj(lon, lat));
    grat.push(pathOf(pts));
  }
  return grat.join('');
}

/** The view box {x, y, w, h} (map units) for a panel of ``aspect`` (width / height):
 * zoom 'stations' fits the station points ``pts`` (with a margin and a minimum span),
 * 'region' the whole map; then widened or heightened to the panel's shape. */
export function viewBox(m, pts, zoom, aspect) {
  let box = { x: 0, y: 0, w: m.width, h: m.height };
  if (zoom === 'stations' && pts.length) {
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    let x0 = Math.min(...xs);
    let x1 = Math.max(...xs);
    let y0 = Math.min(...ys);
    let y1 = Math.max(...ys);
    const minSpan = 230;
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const w = Math.max(minSpan, (x1 - x0) * 1.3 + 90);
    const hh = Math.max(minSpan * 0.75, (y1 - y0) * 1.3 + 90);
    x0 = cx - w / 2; x1 = cx + w / 2; y0 = cy - hh / 2; y1 = cy + hh / 2;
    box = { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  if (box.w / box.h < aspect) {
    // wider panel: show more to the sides as far as the outlines go, then crop
    const [ex0, , ex1] = m.extent || [0, 0, m.width, m.height];
    const w = Math.min(box.h * aspect, Math.max(box.w, ex1 - ex0 - 40));
    box.x -= (w - box.w) / 2;
    box.w = w;
    const hh = w / aspect;
    box.y += (box.h - hh) / 2;
    box.h = hh;
  } else {
    const hh = box.w / aspect;
    box.y -= (hh - box.h) / 2;
    box.h = hh;
  }
  return box;
}

/** Spreads markers that would overlap on screen (paired posts are a few km apart): at
 * least 26 screen pixels apart, ``k`` map units per pixel. Returns station_id ->
 * {ax, ay (the true place), x, y (the marker's)}. */
export function layoutMarkers(stations, proj, k) {
  const minD = 26 * k;
  const pos = stations.map((x, i) => {
    const [px, py] = proj(x.lon, x.lat);
    return { id: x.station_id, ax: px, ay: py, x: px, y: py, i };
  });
  for (let it = 0; it < 80; it++) {
    let moved = false;
    for (let a = 0; a < pos.length; a++) {
      for (let b = a + 1; b < pos.length; b++) {
        const A = pos[a];
        const B = pos[b];
        let dx = B.x - A.x;
        let dy = B.y - A.y;
        let d = Math.hypot(dx, dy);
        if (d >= minD) continue;
        if (d < 1e-6) {
          const ang = (b * 2.399963) % (2 * Math.PI); // golden angle: distinct directions
          dx = Math.cos(ang); dy = Math.sin(ang); d = 1e-6;
        } else { dx /= d; dy /= d; }
        const push = (minD - d) / 2 + 0.01 * k;
        A.x -= dx * push; A.y -= dy * push;
        B.x += dx * push; B.y += dy * push;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return new Map(pos.map((p) => [p.id, p]));
}

const overlap = (a, b) => Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) *
  Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));

/** Station labels: for each marker (in id order) the first candidate place that overlaps
 * neither a marker, nor a box of ``avoid`` (screen pixels: the country names), nor a label
 * already placed; else the least-overlapping one, unless it overlaps more than
 * ``tolerance`` of its area (then no label: the tooltip tells). ``textWidth(text, px)``
 * measures text. Returns station_id -> {x, anchor, y1 (name), y2 (count), box}, in screen
 * pixels relative to the marker. */
export function placeLabels(st, lay, k, avoid, textWidth, tolerance) {
  const R = 12;
  const obstacles = st.map((x) => {
    const p = lay.get(x.station_id);
    return { x0: p.x / k - R, y0: p.y / k - R, x1: p.x / k + R, y1: p.y / k + R };
  });
  obstacles.push(...avoid);
  const out = new Map();
  for (const x of [...st].sort((a, b) => a.station_id.localeCompare(b.station_id))) {
    const p = lay.get(x.station_id);
    const cx = p.x / k;
    const cy = p.y / k;
    const w = Math.max(textWidth(x.name, 11.5), textWidth('99,999 / h', 10.5)) + 2;
    const cands = [
      { x: 14, anchor: 'start', y1: -1, y2: 11, bx: 14, by: -12 },
      { x: -14, anchor: 'end', y1: -1, y2: 11, bx: -14 - w, by: -12 },
      { x: 0, anchor: 'middle', y1: -27, y2: -16, bx: -w / 2, by: -38 },
      { x: 0, anchor: 'middle', y1: 25, y2: 36, bx: -w / 2, by: 14 },
      { x: 11, anchor: 'start', y1: -14, y2: -3, bx: 11, by: -25 },
      { x: 11, anchor: 'start', y1: 14, y2: 25, bx: 11, by: 3 },
      { x: -11, anchor: 'end', y1: -14, y2: -3, bx: -11 - w, by: -25 },
      { x: -11, anchor: 'end', y1: 14, y2: 25, bx: -11 - w, by: 3 },
    ];
    let best = null;
    let bestCost = Infinity;
    for (const c of cands) {
      const box = { x0: cx + c.bx, y0: cy + c.by, x1: cx + c.bx + w, y1: cy + c.by + 26 };
      let cost = 0;
      for (const o of obstacles) cost += overlap(box, o);
      if (cost < bestCost - 0.5) { best = { ...c, box }; bestCost = cost; }
      if (cost === 0) break;
    }
    const area = (best.box.x1 - best.box.x0) * (best.box.y1 - best.box.y0);
    if (bestCost > tolerance * area) continue;
    out.set(x.station_id, best);
    obstacles.push(best.box);
  }
  return out;
}
