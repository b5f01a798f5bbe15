# boot.py: runs at every boot (power-on, reset, wake, soft reset) before main.py.
# Kept minimal: anything slow or fallible here delays the REPL that host tools need.
# A provisioning run cut off after its commit record is finished first, so that main.py never
# imports a mix of two file sets (docs/provisioning.md "Atomic").
# The manifest module is loaded for this call and dropped (mobiot_fw.once): the app reads the
# firmware id once, it needs none of this code in RAM (docs/memory.md).
try:
    from mobiot_fw import once

    once("mobiot_fw.manifest").roll_forward()
    del once
except Exception as e:  # a damaged package must not keep the REPL from the host
    print("boot: provisioning roll-forward:", e)
