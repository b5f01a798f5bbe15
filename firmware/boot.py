# boot.py: runs at every boot (power-on, reset, wake, soft reset) before main.py.
# Kept minimal: anything slow or fallible here delays the REPL that host tools need.
# A provisioning run cut off after its commit record is finished first, so that main.py never
# imports a mix of two file sets (docs/provisioning.md "Atomic").
try:
    from mobiot_fw.manifest import roll_forward

    roll_forward()
    del roll_forward
except Exception as e:  # a damaged package must not keep the REPL from the host
    print("boot: provisioning roll-forward:", e)
