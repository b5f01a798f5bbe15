# The deployed file set, as `mobiot provision` leaves it on flash. Contract: docs/provisioning.md
# ("Manifest", "Atomic"). /manifest.json lists the deployed files and their sha256, and carries
# the firmware id (a short hash over the firmware's entries) that the hello frame and the boot
# record show beside FW_VERSION. /manifest.new is a provisioning run's commit record: once it
# exists the new set is decided, and roll_forward() (run by boot.py before main.py imports
# anything) finishes its renames, so that an interruption leaves the old set or the new one.
# On a board that has no firmware yet, `mobiot provision` runs this very roll_forward(): it sends
# the function's source, read from this file (host/mobiot/prov_board.py firmware_code()).
import os

_MANIFEST = "manifest.json"
_COMMIT = "manifest.new"
_FWID_MAX = 16


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def fwid():
    """The firmware id of the deployed set ("" when the board has no manifest). Read once per
    boot by the app (this module is not kept in RAM for it)."""
    try:
        import json

        with open(_MANIFEST) as f:
            v = json.load(f).get("fwid")
        if isinstance(v, str):
            return v[:_FWID_MAX]
    except (OSError, ValueError, AttributeError):
        pass
    return ""


def roll_forward():
    """Finish a decided provisioning run (idempotent: every step checks before it acts).
    Returns True if there was one."""
    if not _exists(_COMMIT):
        return False
    import json

    try:
        with open(_COMMIT) as f:
            m = json.load(f)
    except ValueError:
        os.remove(_COMMIT)  # never written whole (it is renamed into place): nothing decided
        return False
    for p in m.get("apply", ()):
        if _exists(p + ".new"):
            os.rename(p + ".new", p)
    for p in m.get("remove", ()):
        if _exists(p):
            os.rename(p, p + ".old")
    os.rename(_COMMIT, _MANIFEST)
    return True
