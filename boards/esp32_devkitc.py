# Espressif ESP32-DevKitC (ESP32-WROOM-32) with a 3x4 membrane keypad and a 128x32 SSD1306.
# Pins avoid the strapping pins (0, 2, 5, 12, 15), the flash pins (6-11) and 16/17 (PSRAM on
# WROVER modules); the input-only pins 34/35 (no internal pull-ups) only sense voltages.
# POWER is on GPIO27, an RTC GPIO, so esp32.wake_on_ext0 can wake the chip from sleep.
# Serial: UART0 (GPIO1/3) behind the on-board CP2102 USB bridge, which is also the REPL.
# Plain literals only: the host reads this file with ast.literal_eval, the firmware imports it.
BOARD = {
    "name": "esp32_devkitc",
    "title": "Espressif ESP32-DevKitC (ESP32-WROOM-32)",
    "port": "esp32",
    "mpy_arch": "xtensawin",
    "usb": [0x10C4, 0xEA60],
    "keypad": {
        "kind": "matrix",
        "rows": [4, 13, 18, 19],
        "cols": [25, 26, 32],
        "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"],
    },
    "power": {"pin": 27, "active_low": True},
    "display": {"bus": 0, "sda": 21, "scl": 22, "freq": 400000, "addr": 0x3C,
                "width": 128, "height": 32},
    "serial": {"kind": "uart", "id": 0, "tx": 1, "rx": 3, "baud": 115200, "repl": True},
    "flash": {"dir": "/dsc", "size": 2097152, "fs": "littlefs2"},
    "battery": {"adc": 35, "divider": 2.0},   # 100k/100k divider from the cell
    "led": None,
    "vbus": 34,                                # 5V from USB through a divider: high = USB up
    "sleep": "lightsleep",
}
