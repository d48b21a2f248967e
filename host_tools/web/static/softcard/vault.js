// The soft card's flash at rest: one IndexedDB record, AES-GCM encrypted under a key that
// WebCrypto made non-extractable and that IndexedDB keeps as a CryptoKey object (the page can
// use it, no script can read its bytes out). Every save replaces the whole flash in one
// transaction: a closed tab leaves the old or the new state. Threat model: docs/softcard.md.
const STORE = "card";
const AAD = new TextEncoder().encode("opendsc-softcard-flash-v1");

function req(r) {
  return new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
}

export class Vault {
  static async open(name) {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    const db = await req(open);
    const v = new Vault(db);
    v.key = await v.get("key");
    if (!v.key) {
      v.key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false,
                                              ["encrypt", "decrypt"]);
      await v.put("key", v.key);
    }
    return v;
  }
  constructor(db) { this.db = db; this.key = null; }
  async get(k) { return req(this.db.transaction(STORE).objectStore(STORE).get(k)); }
  async put(k, value) {
    const tx = this.db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(value, k);
    await new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = () => fail(tx.error); });
  }
  async load() { // the flash as the HAL's JSON text, or null when none is stored
    const rec = await this.get("flash");
    if (!rec) return null;
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: rec.iv, additionalData: AAD },
                                              this.key, rec.ct);
    return new TextDecoder().decode(plain);
  }
  async save(text) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: AAD }, this.key,
                                           new TextEncoder().encode(text));
    await this.put("flash", { iv, ct: new Uint8Array(ct) });
  }
}
