"""The `mobiot` command: one entry point, subcommands imported on first use.

Each subcommand lives in its own module and exposes a click command; COMMANDS maps the
subcommand name to "module:attribute" so that `mobiot --help` stays fast and a broken optional
dependency of one command does not break the others.
"""

from __future__ import annotations

import importlib
import sys

import click

from .errors import MobiotError

COMMANDS = {
    "board": ("mobiot.board:board", "Board definitions: list, show (device form), check."),
    "vboard": ("mobiot.vboard:vboard", "Run virtual boards behind pseudo-terminals."),
    "collect": ("mobiot.collect:collect", "Collect records from boards into SQLite."),
    "monitor": ("mobiot.monitor:monitor", "Serial console: a board's frames decoded and its log lines."),
    "export": ("mobiot.export:export", "Export collected records (csv, jsonl, senml, geojson track)."),
    "plot": ("mobiot.plot:plot", "Plot sensors, signal with outages, and coverage maps to PNG."),
    "modem": ("mobiot.modem:modem", "Modem tools: decode an AT command log."),
    "send": ("mobiot.send:send", "Send a command to a board, over MQTT or through the collector's serial port."),
    "demo": ("mobiot.demo:demo", "Four virtual boards (one driving) into the collector, with the dashboard."),
    "flash": ("mobiot.flash:flash", "Flash MicroPython onto a board (esptool), then provision it."),
    "boards": ("mobiot.boards:boards", "The supported boards (mobiot boards show NAME)."),
    "provision": ("mobiot.provision:provision", "Put firmware, config and secrets on a board or a fleet."),
    "config": ("mobiot.config_cmd:config", "Per-device config: a commented template, a check."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("mobiot"):
                raise MobiotError(f"command {cmd_name!r} is not available yet ({exc.name})") from exc
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mobiot")
def cli() -> None:
    """mobiot: MicroPython cellular IoT terminals and the tools that drive them."""


def main(argv: list[str] | None = None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="mobiot", standalone_mode=False)
    except MobiotError as exc:
        print(f"mobiot: error: {exc}", file=sys.stderr)
        return 1
    except click.exceptions.Abort:
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
