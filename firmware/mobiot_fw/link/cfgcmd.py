# `!config <json>`: a whole new config sent down (docs/uplink.md "Commands down", docs/config.md
# "The one config rule"), and `!interval <s>` (docs/protocol.md), kept out of link/commands.py
# so that a board that never gets one (safe mode included) does not hold their code.
# config.replace refuses a config that fails as a whole (the last good one stays) or writes it
# atomically with bad keys at their defaults. interval_s takes effect now, the rest at the next
# boot (the parts are built from the config at boot).
from micropython import const

from mobiot_fw import once

_FALLBACKS_MAX = const(4)  # config_fallback events per change: a broken config must not flood the queue


def cmd(c, verb, args, tr):
    """Handle `!config` or `!interval` for the Commands object c, answering through tr."""
    if verb == "config":
        config_cmd(c, args, tr)
    else:
        interval_cmd(c, args, tr)


def interval_cmd(c, args, tr):
    try:
        s = int(args)
        if not 1 <= s <= 86400:
            raise ValueError
    except ValueError:
        tr.reply("interval", False, "interval must be 1..86400 s")
        return
    c.cfg["interval_s"] = s
    try:
        # the config module (11 KB on the 64-bit port) for this change only, as at boot
        once("mobiot_fw.config").save_key("interval_s", s, c.cfg_path)
    except OSError as e:
        tr.reply("interval", False, "not saved: %s" % e)
        return
    tr.reply("interval", True, None, (("interval_s", s),))
    c.wake.set()


def config_cmd(c, args, tr):
    """Handle `!config` for the Commands object c, answering through transport tr."""
    ev = c.event or _nop
    try:
        new, errors = once("mobiot_fw.config").replace(args, c.cfg_path)
    except ValueError as e:
        ev("config_refused", ("reason", str(e)[:120]))
        tr.reply("config", False, "refused: %s" % str(e)[:80])
        return
    except OSError as e:
        tr.reply("config", False, "not saved: %s" % e)
        return
    for msg in errors[:_FALLBACKS_MAX]:
        ev("config_fallback", ("reason", msg[:120]))
    ev("config_changed", ("fallbacks", len(errors)))
    c.cfg["interval_s"] = new["interval_s"]
    tr.reply("config", True, None, (("fallbacks", len(errors)), ("next_boot", True)))
    if c.wake is not None:
        c.wake.set()


def _nop(*_a):
    pass
