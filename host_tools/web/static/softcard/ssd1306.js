// The SSD1306 controller decoded from the firmware's I2C writes (dsc/ssd1306.py sends them):
// a control byte (Co bit 7, D/C bit 6) then commands or display RAM data. Horizontal and page
// addressing as the driver uses them; the panel shows RAM rows 0..height-1 upright (segment
// remap 0xA1, COM scan 0xC8: the set-up the driver sends). Drawn onto a canvas, SCALE x.
const ARGS = { 0x20: 1, 0x21: 2, 0x22: 2, 0x26: 6, 0x27: 6, 0x29: 5, 0x2a: 5, 0x81: 1, 0x8d: 1,
  0xa3: 2, 0xa8: 1, 0xad: 1, 0xd3: 1, 0xd5: 1, 0xd9: 1, 0xda: 1, 0xdb: 1 };

export class Panel {
  constructor(canvas, width = 128, height = 32) {
    this.canvas = canvas; this.ctx = canvas.getContext("2d");
    this.width = width; this.height = height;
    this.ram = new Uint8Array(128 * 8);
    this.on = false; this.inverted = false; this.mode = 2;
    this.c0 = 0; this.c1 = 127; this.p0 = 0; this.p1 = 7; this.col = 0; this.page = 0;
    this.pending = []; // a command waiting for its argument bytes
    this.draw();
  }
  feed(hexWrites) { // "hex,hex,...": one I2C transaction each
    for (const h of hexWrites.split(",")) if (h) this.write(hexBytes(h));
    this.draw();
  }
  write(b) {
    let i = 0;
    while (i < b.length) {
      const ctrl = b[i++];
      const data = (ctrl & 0x40) !== 0;
      const end = (ctrl & 0x80) ? Math.min(i + 1, b.length) : b.length;
      for (; i < end; i++) data ? this.data(b[i]) : this.command(b[i]);
    }
  }
  command(x) {
    const p = this.pending;
    if (p.length) {
      p.push(x);
      if (p.length - 1 < ARGS[p[0]]) return;
      this.pending = [];
      const [c, a, z] = p;
      if (c === 0x20) this.mode = a & 3;
      else if (c === 0x21) { this.c0 = a & 127; this.c1 = z & 127; this.col = this.c0; }
      else if (c === 0x22) { this.p0 = a & 7; this.p1 = z & 7; this.page = this.p0; }
      return;
    }
    if (ARGS[x]) { this.pending = [x]; return; }
    if (x === 0xae || x === 0xaf) this.on = x === 0xaf;
    else if (x === 0xa6 || x === 0xa7) this.inverted = x === 0xa7;
    else if (x >= 0xb0 && x <= 0xb7) this.page = x & 7;
    else if (x <= 0x0f) this.col = (this.col & 0xf0) | x;
    else if (x >= 0x10 && x <= 0x1f) this.col = (this.col & 0x0f) | ((x & 0x0f) << 4);
  }
  data(v) {
    this.ram[this.page * 128 + this.col] = v;
    if (this.mode === 2) { this.col = (this.col + 1) & 127; return; }
    if (this.mode === 0) {
      if (this.col < this.c1) this.col++;
      else { this.col = this.c0; this.page = this.page < this.p1 ? this.page + 1 : this.p0; }
    } else {
      if (this.page < this.p1) this.page++;
      else { this.page = this.p0; this.col = this.col < this.c1 ? this.col + 1 : this.c0; }
    }
  }
  pixel(x, y) { // panel pixel lit?
    const bit = (this.ram[(y >> 3) * 128 + x] >> (y & 7)) & 1;
    return this.on && (bit ^ (this.inverted ? 1 : 0)) === 1;
  }
  frameHex() { // the RAM behind the panel, page by page (tests compare it with the firmware's)
    let s = "";
    for (let i = 0; i < this.width * (this.height >> 3); i++) {
      const page = Math.floor(i / this.width), x = i % this.width;
      s += this.ram[page * 128 + x].toString(16).padStart(2, "0");
    }
    return s;
  }
  draw() {
    const { ctx, canvas } = this;
    const sx = canvas.width / this.width, sy = canvas.height / this.height;
    ctx.fillStyle = "#02060a"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#9fe8ff";
    for (let y = 0; y < this.height; y++)
      for (let x = 0; x < this.width; x++)
        if (this.pixel(x, y)) ctx.fillRect(x * sx, y * sy, sx - 0.5, sy - 0.5);
  }
}

export function hexBytes(h) {
  const out = new Uint8Array(h.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
  return out;
}
