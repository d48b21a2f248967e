# OpenDSC card firmware. Pure logic (ocra, card, protocol, record, display) is separate from
# hardware access, which goes through the HAL object handed to dsc.app.App (see dsc/hal.py).
VERSION = "0.1.0"
