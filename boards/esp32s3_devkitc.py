# Espressif ESP32-S3-DevKitC-1 with a 3x4 membrane keypad and a 128x32 SSD1306, serial over the
# S3's native USB port. Pins avoid the strapping pins (0, 3, 45, 46), USB (19/20), UART0
# (43/44) and the flash/PSRAM pins (26-37); the RGB LED (WS2812) is not a plain LED.
# POWER is on GPIO1, an RTC GPIO, so esp32.wake_on_ext0 can wake the chip from sleep.
# USB: the stock ESP32_GENERIC_S3 build's TinyUSB CDC port, 303A:4001 (Espressif's VID, the
# TinyUSB default PID for CDC alone); 303A:1001 is the chip's USB-Serial/JTAG (ROM download).
# Plain literals only: the host reads this file with ast.literal_eval, the firmware imports it.
BOARD = {
    "name": "esp32s3_devkitc",
    "title": "Espressif ESP32-S3-DevKitC-1",
    "port": "esp32",
    "mpy_arch": "xtensawin",
    "usb": [0x303A, 0x4001],
    "keypad": {
        "kind": "matrix",
        "rows": [4, 5, 6, 7],
        "cols": [15, 16, 17],
        "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"],
    },
    "power": {"pin": 1, "active_low": True},
    "display": {"bus": 0, "sda": 8, "scl": 9, "freq": 400000, "addr": 0x3C,
                "width": 128, "height": 32},
    "serial": {"kind": "usb_cdc"},
    "flash": {"dir": "/dsc", "size": 6291456, "fs": "littlefs2"},
    "battery": {"adc": 2, "divider": 2.0},    # ADC1 channel 1, 100k/100k divider from the cell
    "led": None,
    "vbus": 11,                                # 5V from USB through a divider: high = USB up
    "sleep": "lightsleep",
}
