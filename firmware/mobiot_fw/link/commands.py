# The one host command dispatcher (docs/protocol.md, "Host -> board commands"): the serial
# session and the cellular uplink hand it the same command lines (`!verb args*XX`) and a
# transport to answer through. A transport has reply(cmd, ok, err, extra), attach() (!hello),
# detach() (!bye) and acked() (after an ack removed records from the queue).
from mobiot_fw.link import proto


class Commands:
    def __init__(self, q, cfg, cfg_path="config.json", status=None, wake=None, safe_off=None, event=None):
        self.q = q
        self.cfg = cfg
        self.cfg_path = cfg_path
        self.status = status  # () -> seq: a status record now
        self.wake = wake  # asyncio.Event that starts a report cycle now
        self.safe_off = safe_off  # () -> None: end safe mode (crash.py)
        self.event = event  # (name, *pairs) -> an event record (!config's outcome)

    def handle(self, line, tr):
        """Handle one command line. Never raises: a command that fails is answered with its
        error, and the link goes on."""
        try:
            verb, args = proto.parse_command(line)
        except ValueError as e:
            if "!" in line:
                tr.reply("?", False, str(e))
            return
        try:
            self._do(verb, args, tr)
        except OSError as e:  # the flash refused an ack-log write, say
            tr.reply(verb, False, "OSError %s" % (e.args[0] if e.args else "?"))

    def _do(self, verb, args, tr):
        if verb == "ack":
            try:
                self.q.ack_ranges(proto.iter_ack_ranges(args))
            except ValueError as e:
                tr.reply("ack", False, str(e))
                return
            tr.acked()
        elif verb == "hello":
            tr.attach()
        elif verb == "bye":
            tr.detach()
            tr.reply("bye", True)
        elif verb == "status" and self.status is not None:
            self.status()
        elif verb in ("sample", "interval") and self.wake is None:
            tr.reply(verb, False, "safe mode")  # no report cycle runs (crash.py)
        elif verb == "sample":
            self.wake.set()
            tr.reply("sample", True)
        elif verb == "interval" or verb == "config" or verb == "sum":
            # rare commands, each in a module loaded for the call and dropped, so a board holds
            # none of their code (safe mode included): the config's (link/cfgcmd.py), and the
            # digest of the device files that provisioning asks for (link/filesum.py)
            from mobiot_fw import once

            once("mobiot_fw.link.filesum" if verb == "sum" else "mobiot_fw.link.cfgcmd").cmd(self, verb, args, tr)
        elif verb == "safe":
            if args != "off":
                tr.reply("safe", False, "usage: !safe off")
                return
            if self.safe_off is not None:
                self.safe_off()
            else:
                from mobiot_fw import crash

                crash.clear()
            tr.reply("safe", True)
        else:
            tr.reply(verb, False, "unknown command")
