// The offline map's page: markers, side list, popups, navigation links (see mapping.py).
// Everything from the data is put on the page as text (textContent), never as HTML.
const D = DATA;
const el = (tag, cls, text) => { const e = document.createElement(tag);
  if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = String(text);
  return e; };
const iOS = /iPad|iPhone|iPod/.test(navigator.userAgent);
document.getElementById('title').textContent = D.title;
const map = L.map('map', {preferCanvas: false});
if (D.tiles.tile_url) {
  const opts = {maxZoom: D.tiles.tile_max_zoom, attribution: D.tiles.tile_attribution};
  if (D.tiles.tile_subdomains) opts.subdomains = D.tiles.tile_subdomains;
  L.tileLayer(D.tiles.tile_url, opts).addTo(map);
  if (D.tiles.tile_overlay_url) L.tileLayer(D.tiles.tile_overlay_url, opts).addTo(map);
}
const towns = L.geoJSON(D.townships, {style: {color: '#555', weight: 1, fillOpacity: 0.03},
  onEachFeature: (f, l) => { const p = f.properties;
    l.bindTooltip(el('span', '', p.township + (p.oversight_unit ? '（' + p.oversight_unit + '）' : '')),
      {permanent: true, direction: 'center', className: 'town'}); }}).addTo(map);
function navLinks(p) {
  const box = el('div', 'nav');
  if (p.lon === null || p.lat === null) { box.appendChild(el('span', 'nocoord', '无坐标，按地址前往'));
    return box; }
  const a = el('a', '', '高德导航'); a.href = iOS ? p.amap_ios : p.amap;
  const b = el('a', '', '百度导航'); b.href = p.baidu;
  box.append(a, b); return box;
}
function popup(p) {
  const d = el('div', 'lead');
  d.appendChild(el('h3', '', '#' + p.rank + ' ' + p.category_zh + ' · 评分 ' + p.score));
  d.appendChild(el('div', 'name', p.name || '（未登记）'));
  d.appendChild(el('div', '', (p.township || '') + ' ' + (p.address || '')));
  d.appendChild(el('div', 'status', '台账状态：' + p.status + (p.outcome ? '；' + p.outcome : '')));
  const r = el('div', ''); r.appendChild(el('b', '', '线索理由：')); r.append(p.reasons || '');
  d.appendChild(r);
  const ul = el('ul'); for (const e of p.evidence) if (e) ul.appendChild(el('li', '', e));
  d.appendChild(ul);
  for (const line of p.linked || []) if (line) d.appendChild(el('div', 'linked', line));
  const act = el('div', 'action'); act.appendChild(el('b', '', '建议措施：')); act.append(p.action || '');
  d.appendChild(act);
  d.appendChild(navLinks(p));
  d.appendChild(el('div', 'id', p.site_id));
  return d;
}
const markers = {};
const placed = L.featureGroup();
for (const p of D.leads) {
  if (p.lon === null || p.lat === null) continue;
  const m = L.circleMarker([p.lat, p.lon], {radius: 11, color: '#222', weight: 1,
    fillColor: p.colour, fillOpacity: 0.9});
  const label = el('span', '', p.rank); label.style.color = p.ink;
  m.bindTooltip(label, {permanent: true, direction: 'center', className: 'rank'});
  m.bindPopup(() => popup(p), {maxWidth: 420});
  m.addTo(placed); markers[p.site_id] = m;
}
placed.addTo(map);
const bounds = placed.getLayers().length ? placed.getBounds() : towns.getBounds();
if (bounds.isValid()) { map.fitBounds(bounds.pad(0.1)); } else { map.setView([33.65, 117.0], 10); }
const list = document.getElementById('list');
list.appendChild(el('div', 'count', D.leads.length + ' 条线索（' +
  D.leads.filter(p => p.lon === null || p.lat === null).length + ' 条无坐标）'));
for (const p of D.leads) {
  const item = el('div', 'item'); item.dataset.site = p.site_id;
  const badge = el('span', 'badge', p.rank); badge.style.background = p.colour;
  badge.style.color = p.ink; item.appendChild(badge);
  item.appendChild(el('span', 'cat', p.category_zh));
  item.appendChild(el('div', 'name', p.name || '（未登记）'));
  item.appendChild(el('div', 'addr', (p.township || '') + ' ' + (p.address || '')));
  if (p.status !== '线索') item.appendChild(el('div', 'status', p.status + (p.outcome ? '：' + p.outcome : '')));
  if (markers[p.site_id]) {
    item.addEventListener('click', () => { map.setView(markers[p.site_id].getLatLng(), 16);
      markers[p.site_id].openPopup(); });
  } else { item.classList.add('unplaced'); }
  item.appendChild(navLinks(p));
  list.appendChild(item);
}
const legend = L.control({position: 'bottomright'});
legend.onAdd = () => { const d = el('div', 'legend');
  for (const [name, colour] of D.legend) { const row = el('div'); const s = el('span');
    s.style.background = colour; row.append(s, name); d.appendChild(row); }
  return d; };
legend.addTo(map);
document.body.dataset.leads = placed.getLayers().length;
document.body.dataset.listed = D.leads.length;
