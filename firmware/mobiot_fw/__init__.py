# The terminal firmware (docs/). VERSION is what H frames and status records carry as "fw".
VERSION = "0.1.0"


def once(name):
    """Import module `name` (dotted, e.g. "mobiot_fw.cell.ids") for one use and forget it again
    (sys.modules and the package attribute): its code is garbage once the caller drops the
    module. For code a board runs once per boot, power-on or attach (docs/memory.md, "which
    modules are in RAM when")."""
    import sys

    m = __import__(name, None, None, ("_",))
    del sys.modules[name]
    pkg, _, attr = name.rpartition(".")
    delattr(sys.modules[pkg], attr)
    return m

