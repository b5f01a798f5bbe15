# boot.py: runs at every boot (power-on, reset, wake, soft reset) before main.py.
# Kept minimal: anything slow or fallible here delays the REPL that host tools need.
