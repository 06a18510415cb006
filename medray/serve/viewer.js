// medray viewer (GET /viewer.js): a file, not inline, so the page's CSP needs no 'unsafe-inline'
const $ = (id) => document.getElementById(id);
let file = null, timer = null;
function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = $("token").value.trim();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}
function mediaType(f) {
  const n = f.name.toLowerCase();
  if (n.endsWith(".png")) return "image/png";
  if (n.endsWith(".nii.gz") || n.endsWith(".gz")) return "application/gzip";
  if (n.endsWith(".nii")) return "application/x-nifti";
  return "application/dicom";
}
async function errorText(r) {
  try { const j = await r.json(); return r.status + " " + j.error + ": " + j.detail; } catch (e) { return "HTTP " + r.status; }
}
function status(msg, bad) { $("status").textContent = msg; $("status").className = bad ? "err" : ""; }
async function loadPatients() {
  const r = await fetch("v1/vitals", {headers: headers()});
  if (!r.ok) { status(await errorText(r), true); return; }
  const keep = $("patient").value;
  const sel = $("patient");
  sel.length = 1;
  for (const p of (await r.json()).patients) {
    const o = document.createElement("option"); o.value = o.textContent = p.patient_id; sel.appendChild(o);
  }
  sel.value = keep;
}
async function showVitals() {
  const pid = $("patient").value;
  if (!pid) { $("vitals").innerHTML = "<tr><td>no patient: the model's default α</td></tr>"; return; }
  const r = await fetch("v1/vitals/" + encodeURIComponent(pid), {headers: headers()});
  if (!r.ok) { $("vitals").innerHTML = "<tr><td class='err'></td></tr>"; $("vitals").querySelector("td").textContent = await errorText(r); return; }
  const v = await r.json();
  const rows = [["heart rate", v.heart_rate + " bpm"], ["SpO2", v.spo2 + " %"], ["temperature", v.temperature + " °C"],
                ["mobility", v.mobility], ["reading at", v.ts + " (" + v.age_s.toFixed(1) + " s ago" + (v.fresh ? ")" : ", stale)")],
                ["α these vitals give", v.alpha.toFixed(4) + " (" + v.alpha_source + ")"]];
  const t = $("vitals"); t.innerHTML = "";
  for (const [k, val] of rows) { const tr = t.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = val; }
}
async function enhance() {
  if (!file) return;
  const body = await file.arrayBuffer(), type = mediaType(file);
  status("rendering the original…");
  const r0 = await fetch("v1/render", {method: "POST", headers: headers({"Content-Type": type}), body});
  if (!r0.ok) { status(await errorText(r0), true); return; }
  $("before").src = URL.createObjectURL(await r0.blob());
  status("enhancing…");
  const pid = $("patient").value;
  const q = new URLSearchParams({format: "png"}); if (pid) q.set("patient_id", pid);
  const t0 = performance.now();
  const r = await fetch("v1/enhance?" + q, {method: "POST", headers: headers({"Content-Type": type}), body});
  if (!r.ok) { status(await errorText(r), true); return; }
  $("after").src = URL.createObjectURL(await r.blob());
  $("meta").textContent = "α " + r.headers.get("X-Medray-Alpha") + " (" + r.headers.get("X-Medray-Alpha-Source") +
    "), vitals at " + r.headers.get("X-Medray-Vitals-Ts") + ", model " + r.headers.get("X-Medray-Model") +
    ", " + Math.round(performance.now() - t0) + " ms";
  status("done");
}
function slide() {
  const p = $("slider").value;
  $("afterWrap").style.width = (100 - p) + "%"; $("afterWrap").style.left = p + "%";
  $("after").style.left = (-5.12 * p) + "px"; $("divider").style.left = p + "%";
}
$("file").onchange = (e) => { file = e.target.files[0] || null; $("go").disabled = !file; };
$("go").onclick = enhance;
$("patient").onchange = showVitals;
$("slider").oninput = slide;
$("token").onchange = loadPatients;
slide();
loadPatients();
timer = setInterval(() => { showVitals(); loadPatients(); }, 2000);
