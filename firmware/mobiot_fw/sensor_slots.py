# The sensor slots of a terminal (sensors.py), built once per boot from the board definition
# (docs/boards.md "sensors") and the config (docs/config.md "sensors"): Sensors.setup() imports
# this module for the call and drops it (mobiot_fw.once; docs/memory.md).
from mobiot_fw.sensors import Slot

_PREFIX = {"sht4x": "sht_", "ds18b20": "ds_"}  # value name prefixes unless configured (others: none)


def build(sensors):
    """Build sensors.slots from the board definition and the config (config may add sensors
    the board does not list, or disable one with false). A slot is data (its driver class
    and options): Sensors.ensure() makes the driver, so nothing of this module is kept."""
    want = list(sensors.board.get("sensors", ()))
    scfg = sensors.cfg.get("sensors", {})
    for name in scfg:
        if scfg[name] is False and name in want:
            want.remove(name)
        elif scfg[name] is not False and name not in want:
            want.append(name)
    for name in want:
        o = scfg.get(name) or {}
        make = None  # the driver class; None: the board's PMU or a GNSS reader gives it
        if name == "bme280":
            from .drivers.bme280 import Bme280 as make
        elif name == "sht4x":
            from .drivers.sht4x import Sht4x as make
        elif name == "ds18b20":
            from .drivers.ds18b20 import Ds18b20 as make
        elif name == "battery":
            bc = sensors.board.get("battery", {})
            if bc.get("source") != "pmu":
                if "pin" not in bc:
                    continue
                from .drivers.battery import Battery as make
        elif name == "gnss":
            gc_ = sensors.board.get("gnss", {})
            if gc_.get("uart") is not None:
                from .drivers.nmea import Gnss

                sensors.gnss = Gnss(sensors.plat.uart("gnss"))
                sensors.clock.sources.append(sensors.gnss)
            elif gc_.get("source") != "modem":
                continue
            # else read over AT by the modem part (cell/gnss.py); absent until it runs
        else:
            continue
        sensors.slots.append(Slot(name, make, o, o.get("prefix") or _PREFIX.get(name, "")))
