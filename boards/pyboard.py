# MicroPython Pyboard v1.1 (STM32F405) with a 4x4 membrane keypad and a 128x64 SSD1306.
# stm32 pins are named, not numbered ("X1"). The hardware I2C bus 1 has fixed pins (X9 SCL,
# X10 SDA). POWER is on X1 (PA0, the WKUP pin). The filesystem is FAT on the internal flash.
# Keys A..D of the 4x4 keypad are scanned but ignored by the card.
# The stock image also offers the internal flash (and so the card record) as a USB drive: a
# production build writes boot.py to switch USB to the serial port alone (pyb.usb_mode("VCP")),
# after which the board answers with the CDC-only product ID.
# Plain literals only: the host reads this file with ast.literal_eval, the firmware imports it.
BOARD = {
    "name": "pyboard",
    "title": "MicroPython Pyboard v1.1 (STM32F405)",
    "port": "stm32",
    "mpy_arch": "armv7emsp",
    "usb": [0xF055, 0x9800],
    "keypad": {
        "kind": "matrix",
        "rows": ["Y1", "Y2", "Y3", "Y4"],
        "cols": ["Y5", "Y6", "Y7", "Y8"],
        "keys": ["1", "2", "3", "A", "4", "5", "6", "B", "7", "8", "9", "C",
                 "CLR", "0", "OK", "D"],
    },
    "power": {"pin": "X1", "active_low": True},
    "display": {"bus": 1, "sda": "X10", "scl": "X9", "freq": 400000, "addr": 0x3C,
                "width": 128, "height": 64},
    "serial": {"kind": "usb_cdc"},
    "flash": {"dir": "/flash/dsc", "size": 114688, "fs": "fat"},
    "battery": None,
    "led": "LED_GREEN",
    "vbus": "USB_VBUS",                        # PA9: high while USB powers the board
    "sleep": "lightsleep",
    "production": {"boot": "import pyb\npyb.usb_mode(\"VCP\")\n", "usb": [0xF055, 0x9802]},
}
