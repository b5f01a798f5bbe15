# "Flash" a new virtual board: format its littlefs image and, unless it is to stay blank, copy
# the files that provisioning puts on a board (STATE_DIR/seed/, prepared by `mobiot vboard`).
# Runs once, before the board is powered, so nothing on the serial line can interrupt it.
# Simulation only: never deployed to a real board.
import sys
import os
import vfs
from flashdev import FlashDev

state_dir = sys.argv[1]
bdev = FlashDev(open(state_dir + "/flash.img", "r+b"))
vfs.VfsLfs2.mkfs(bdev)
fs = vfs.VfsLfs2(bdev)
seed = state_dir + "/seed"


def copy_tree(src, dst):
    for ent in os.ilistdir(src):
        name, kind = ent[0], ent[1]
        s = src + "/" + name
        d = dst + "/" + name
        if kind == 0x4000:
            fs.mkdir(d)
            copy_tree(s, d)
        else:
            with open(s, "rb") as fi, fs.open(d, "wb") as fo:
                while True:
                    chunk = fi.read(1024)
                    if not chunk:
                        break
                    fo.write(chunk)


try:
    os.stat(seed)
    copy_tree(seed, "")
except OSError as e:
    if e.errno != 2:
        raise
print("seeded", state_dir)
