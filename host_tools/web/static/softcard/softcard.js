// The soft card page: firmware/dsc, unchanged, on the official MicroPython WebAssembly build.
// Boot: fetch the VM (the project's npm install, served by dsc serve), fetch every firmware file
// listed in /softcard/firmware.json and check its SHA-256, mount them, load the card's flash from
// the encrypted IndexedDB record, then call App.step() on a timer. The SSD1306 writes are decoded
// onto the canvas; #mirror holds the display's text for screen readers and tests.
import { loadMicroPython } from "/softcard/vm/micropython.mjs";
import { Panel } from "/softcard/static/ssd1306.js";
import { Vault } from "/softcard/static/vault.js";

const $ = (id) => document.getElementById(id);
const demo = location.pathname === "/emulator" ||
  new URLSearchParams(location.search).get("demo") === "1";
const STEP_MS = 10;
const KEYBOARD = { Backspace: "CLR", Delete: "CLR", Escape: "CLR", Enter: "OK", p: "POWER",
  P: "POWER", " ": "POWER" };
for (let d = 0; d <= 9; d++) KEYBOARD[String(d)] = String(d);

let mp, hal, vault, panel;
let link = null;            // the activation's WebSocket while it runs
const state = { ready: false, firmware: [], activation: null, error: null };
window.softcard = state;    // for tests and the curious: boot state, firmware hashes, panel RAM

function status(text) { $("status").textContent = text; }

async function sha256(buf) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function mountFirmware() {
  const list = await (await fetch("/softcard/firmware.json")).json();
  for (const dir of ["/fw", "/fw/dsc", "/fw/softcard"]) { try { mp.FS.mkdir(dir); } catch (e) { /* exists */ } }
  for (const f of list) {
    const buf = new Uint8Array(await (await fetch("/softcard/firmware/" + f.path)).arrayBuffer());
    const got = await sha256(buf);
    if (got !== f.sha256) throw new Error(`firmware ${f.path}: SHA-256 ${got} is not ${f.sha256}`);
    mp.FS.writeFile("/fw/" + f.path, buf);
    state.firmware.push({ path: f.path, sha256: got, bytes: buf.length });
  }
}

const BOOT = `
import sys, json
sys.path.insert(0, "/fw")
from softcard.hal_browser import BrowserHal, screen_text
from dsc.app import App
from dsc import record
hal = BrowserHal()
app = None

def start(flash, demo):
    global app
    hal.load_flash(flash)
    if demo and record.load(hal) is None:  # the emulator: a fake seed, never a real one
        record.save(hal, record.Record("EMU00001", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1",
                                       b"12345678901234567890123456789012", hal.random_bytes(32)))
        hal.take_flash()
    app = App(hal, True)

def step():
    app.step()
    if hal.reset_requested:
        hal.reset_requested = False
        start(hal.take_flash() or current_flash(), False)

def current_flash():
    hal._flash_changed = True
    return hal.take_flash()

def mirror():
    return "\\n".join(screen_text(app.card.view()))

def info():
    r = app.record
    return json.dumps({"provisioned": r is not None, "serial": r.serial if r else None,
                       "frame": bytes(app.display.panel.fbuf).hex()})
`;

async function boot() {
  panel = new Panel($("screen"));
  window.softcardPanel = panel;
  if (demo) { $("banner").hidden = false; $("title").textContent = "OpenDSC card emulator"; }
  status("Loading MicroPython…");
  mp = await loadMicroPython({ heapsize: 2 * 1024 * 1024, stdout: (l) => console.log(l),
                               stderr: (l) => console.error(l) });
  await mountFirmware();
  vault = demo ? null : await Vault.open("opendsc-softcard");
  const flash = demo ? "{}" : ((await vault.load()) || "{}");
  mp.runPython(BOOT);
  hal = mp.globals.get("hal");
  mp.globals.get("start")(flash, demo);
  const py = { step: mp.globals.get("step"), mirror: mp.globals.get("mirror"),
               info: mp.globals.get("info") };
  state.py = py;
  wireKeys();
  state.ready = true;
  const info = JSON.parse(py.info());
  status(info.provisioned ? `Soft card ${info.serial}` : "Not activated yet.");
  if (!info.provisioned && !demo) offerActivation();
  loop(py);
}

async function loop(py) {
  let lastMirror = null;
  for (;;) {
    const t0 = performance.now();
    try {
      py.step();
      const writes = hal.take_i2c();
      if (writes) panel.feed(writes);
      const text = py.mirror();
      if (text !== lastMirror) { $("mirror").textContent = text; lastMirror = text; }
      const flash = hal.take_flash();
      if (flash && vault) await vault.save(flash);  // durable before the card's answer leaves
      const out = hal.take_serial();
      if (out && link && link.readyState === WebSocket.OPEN) link.send(fromHex(out));
    } catch (e) {
      state.error = String(e); status("The card stopped: " + e); console.error(e); return;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, STEP_MS - (performance.now() - t0))));
  }
}

function wireKeys() {
  for (const b of document.querySelectorAll("#keys button")) {
    const key = b.dataset.key;
    const up = () => { b.classList.remove("down"); hal.press(key, false); };
    b.addEventListener("pointerdown", (e) => { e.preventDefault(); b.classList.add("down"); hal.press(key, true); });
    b.addEventListener("pointerup", up);
    b.addEventListener("pointerleave", up);
  }
  const typing = (e) => e.target instanceof HTMLInputElement;
  document.addEventListener("keydown", (e) => {
    const key = KEYBOARD[e.key];
    if (!key || typing(e) || e.repeat) return;
    e.preventDefault(); hal.press(key, true);
  });
  document.addEventListener("keyup", (e) => {
    const key = KEYBOARD[e.key];
    if (!key || typing(e)) return;
    e.preventDefault(); hal.press(key, false);
  });
}

function offerActivation() {
  $("activation").hidden = false;
  $("activate-form").addEventListener("submit", (e) => { e.preventDefault(); activate($("code").value); });
  const m = location.hash.match(/code=([A-Za-z0-9-]+)/);
  if (m) {
    history.replaceState(null, "", location.pathname + location.search);  // the code, once
    $("code").value = m[1];
    activate(m[1]);
  }
}

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

function toHex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The activation: one WebSocket carries the code, then the service protocol's bytes both ways
// (binary messages: the server's client -> the card, the card's answers -> the server), then
// the server's last word, a JSON text message {state: active | refused | failed, ...}.
function activation(code) {
  return new Promise((resolve) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/softcard/v1/activate`);
    ws.binaryType = "arraybuffer";
    let last = { state: "failed", detail: "the connection to the server was lost" };
    ws.addEventListener("open", () => { link = ws; ws.send(JSON.stringify({ code })); });
    ws.addEventListener("message", (ev) => {
      if (typeof ev.data !== "string") { hal.feed(toHex(ev.data)); return; }
      const msg = JSON.parse(ev.data);
      if (msg.state === "claimed") state.activation = { state: "running", user: msg.user };
      else last = msg;
    });
    ws.addEventListener("close", () => { link = null; resolve(last); });
  });
}

async function activate(code) {
  $("activate").disabled = true;
  status("Activating…");
  state.activation = { state: "running" };
  const user = () => (state.activation && state.activation.user) || "";
  const r = await activation(code);
  state.activation = { state: r.state, serial: r.serial_number, detail: r.detail,
                       reason: r.reason, user: user() };
  if (r.state === "active") {
    $("activation").hidden = true;
    status(`Soft card ${r.serial_number} is active for ${user()}.`);
  } else {
    status((r.state === "refused" ? "Activation refused: " : "Activation failed: ") + r.detail);
    $("activate").disabled = false;
  }
}

boot().catch((e) => { state.error = String(e); status("Could not start the card: " + e); console.error(e); });
