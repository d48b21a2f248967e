# Raspberry Pi Pico 2 (RP2350) with a 3x4 membrane keypad and a 128x32 SSD1306 on I2C0.
# Same header pinout as the Pico; the RP2350's Cortex-M33 takes armv7emsp .mpy files.
# Plain literals only: the host reads this file with ast.literal_eval, the firmware imports it.
BOARD = {
    "name": "pico2",
    "title": "Raspberry Pi Pico 2 (RP2350)",
    "port": "rp2",
    "mpy_arch": "armv7emsp",
    "usb": [0x2E8A, 0x0005],
    "keypad": {
        "kind": "matrix",
        "rows": [2, 3, 4, 5],
        "cols": [6, 7, 8],
        "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"],
    },
    "power": {"pin": 15, "active_low": True},
    "display": {"bus": 0, "sda": 16, "scl": 17, "freq": 400000, "addr": 0x3C,
                "width": 128, "height": 32},
    "serial": {"kind": "usb_cdc"},
    "flash": {"dir": "/dsc", "size": 3145728, "fs": "littlefs2"},
    "battery": {"adc": 29, "divider": 3.0},   # VSYS/3 on ADC3
    "led": 25,
    "vbus": 24,
    "sleep": "lightsleep",
}
