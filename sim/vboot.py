# Power-on of a virtual board: what the ESP32 port's main.c and _boot.py do, for the unix port.
# Run by `mobiot vboard` as:  micropython -X heapsize=H -i vboot.py STATE_DIR MODE CAUSE [SIMCACHE]
#   STATE_DIR  the board's folder (flash.img, sim.json)
#   MODE       "run"  power-on or soft reset at the friendly REPL: boot.py then main.py
#              "raw"  soft reset in the raw REPL: boot.py only, then the raw REPL (vboard
#                     switches the REPL to raw after the marker line printed below)
#   CAUSE      reset cause as machine.reset_cause() reports it on the ESP32
# Then `-i` leaves the process at the REPL, as the ESP32 is after main.py.
# Simulation only: never deployed to a real board.
import sys
import vfs

_RAW_MARK = "\x1b[vboard-raw]"  # vboard swallows the REPL banner that follows this mark
_UP_MARK = "\x1b[vboard-up]"

state_dir, mode, cause = sys.argv[1], sys.argv[2], int(sys.argv[3])
if len(sys.argv) > 4:
    sys.path.insert(0, sys.argv[4])  # the simulation modules compiled to .mpy by vboard

# Simulated peripherals are imported while the host filesystem is still mounted; they stay in
# sys.modules so that `import machine` on the board finds them, but nothing of them is on the
# board's flash.
import simworld  # noqa: E402

simworld.setup(state_dir, cause)
simworld.preload()
import vos  # noqa: E402  the ESP32's os: the unix port's, with os.uname() (sim/vos.py)

sys.modules["os"] = os = vos
import machine  # noqa: E402,F401
import onewire  # noqa: E402,F401
from flashdev import FlashDev  # noqa: E402


_part = simworld.info.get("flash")
_fresh = False
if _part:
    # vboard --erased: the "vfs" partition of the image esptool flashed, inside the board's
    # whole flash (flash.bin). Empty after an erase: formatted here, as the ESP32 port's
    # _boot.py / inisetup.py setup() do on first boot.
    img = open(state_dir + "/" + _part["file"], "r+b")
    bdev = FlashDev(img, 4096, _part["offset"], _part["size"])
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        print("Performing initial setup")
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
        _fresh = True
else:
    img = open(state_dir + "/flash.img", "r+b")
    bdev = FlashDev(img)
    fs = vfs.VfsLfs2(bdev)  # formatted by vseed.py when the board was made
vfs.umount("/")
vfs.mount(fs, "/")
os.chdir("/")
if _fresh:
    with open("boot.py", "w") as f:  # the boot.py inisetup.py writes
        f.write("# This file is executed on every boot (including wake-boot from deepsleep)\n"
                "#import esp\n#esp.osdebug(None)\n#import webrepl\n#webrepl.start()\n")
import gc  # noqa: E402

gc.collect()
print("vboard: heap free at boot", gc.mem_free())
print(_UP_MARK)  # vboard holds the host's bytes until here: the UART is not up before
sys.path[:] = ["", ".frozen", "/lib"]


def _run(name):
    # pyexec_file_if_exists(): run a file if it is there; an exception prints its traceback
    # and boot carries on, as on the board.
    try:
        os.stat(name)
    except OSError:
        return True
    g = {"__name__": "__main__", "__file__": name}
    try:
        with open(name) as f:
            src = f.read()
        exec(compile(src, name, "exec"), g)
    except SystemExit:
        raise
    except BaseException as e:  # KeyboardInterrupt too: Ctrl-C stops main.py, not the board
        sys.print_exception(e)
        return not isinstance(e, KeyboardInterrupt)
    return True


if _run("boot.py") and mode == "run":
    _run("main.py")
if mode == "raw":
    print(_RAW_MARK)
del _run, img, bdev, fs, state_dir, mode, cause, _part, _fresh, vos
