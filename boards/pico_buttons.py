# Raspberry Pi Pico (RP2040) with twelve separate push buttons (one GPIO each, to ground) and
# a 128x32 SSD1306 on I2C0: the direct-button wiring, for a card without a membrane keypad.
# Plain literals only: the host reads this file with ast.literal_eval, the firmware imports it.
BOARD = {
    "name": "pico_buttons",
    "title": "Raspberry Pi Pico (RP2040), direct buttons",
    "port": "rp2",
    "mpy_arch": "armv6m",
    "usb": [0x2E8A, 0x0005],
    "keypad": {
        "kind": "direct",
        "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"],
        "direct": {"1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9,
                   "9": 10, "CLR": 11, "0": 12, "OK": 13},
    },
    "power": {"pin": 15, "active_low": True},
    "display": {"bus": 0, "sda": 16, "scl": 17, "freq": 400000, "addr": 0x3C,
                "width": 128, "height": 32},
    "serial": {"kind": "usb_cdc"},
    "flash": {"dir": "/dsc", "size": 1441792, "fs": "littlefs2"},
    "battery": {"adc": 29, "divider": 3.0},
    "led": 25,
    "vbus": 24,
    "sleep": "lightsleep",
}
