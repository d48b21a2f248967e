# The soft card: firmware/dsc unchanged, on a HAL for a browser page (hal_browser).
