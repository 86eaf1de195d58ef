"""Hardware adapters: raw byte transports for the receipt printer, and the cash drawer."""
