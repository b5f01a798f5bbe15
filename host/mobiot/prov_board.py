"""The MicroPython that `mobiot provision` runs on the board, in the raw REPL (docs/provisioning.md).

Each script is sent once per run through mpremote's raw-paste mode, so it is kept short: every
byte of it crosses the same slow line as the files. Parameters are put in as Python literals
(repr of lists, dicts, ints and strings, which MicroPython parses the same).

Flash layout they keep (littlefs: os.rename replaces its target atomically):
  P.new         a file being received (never read by the firmware)
  P.old         the previous version of P, kept until verify passes
  manifest.new  the commit record: once it exists the new set is decided, and the renames it
                lists are finished by whoever gets there first (this code, or boot.py at boot)
"""

from __future__ import annotations

import ast

from .upy import FIRMWARE_DIR

# Helpers every script starts with: sha256 of a file (None when absent), exists, read JSON.
_LIB = """import sys,os,json,hashlib,binascii
def _h(p):
 try:f=open(p,'rb')
 except OSError:return None
 h=hashlib.sha256();b=bytearray(1024);m=memoryview(b)
 while 1:
  n=f.readinto(b)
  if not n:break
  h.update(m[:n])
 f.close();return binascii.hexlify(h.digest()).decode()
def _e(p):
 try:os.stat(p);return 1
 except OSError:return 0
def _j(p):
 try:
  with open(p) as f:return json.load(f)
 except Exception:return None
def _rm(p):
 try:os.remove(p)
 except OSError:pass
"""

def firmware_code(module: str, entry: str) -> str:
    """`entry` of firmware/mobiot_fw/<module>.py and what it needs of that module (its imports,
    constants, and the functions it calls), as MicroPython source without comments or
    docstrings. The board runs the firmware's own code this way even before the firmware is
    on it, so that the steps exist once (the firmware runs them at boot), and the bytes on
    the line are few."""
    tree = ast.parse((FIRMWARE_DIR / "mobiot_fw" / f"{module}.py").read_text())
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    need, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        todo += [n.id for n in ast.walk(funcs[name]) if isinstance(n, ast.Name) and n.id in funcs]
    body = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            if node.name not in need:
                continue
            doc = node.body[0]
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
        elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)):
            continue
        body.append(node)
    # one space a level: MicroPython takes any consistent indentation
    lines = ast.unparse(ast.Module(body=body, type_ignores=[])).splitlines()
    out = [" " * ((len(ln) - len(ln.lstrip(" "))) // 4) + ln.lstrip(" ") for ln in lines if ln.strip()]
    return "\n".join(out).replace("%", "%%") + "\n"  # the scripts below are %-templates


# The roll-forward of a decided set: firmware/mobiot_fw/manifest.py roll_forward(), which boot.py
# runs at every boot; idempotent, so an interruption anywhere in it is finished by the next
# run or the next boot.
ROLL_FORWARD = firmware_code("manifest", "roll_forward")

# Probe: finish a pending commit, clear what an interrupted run left, then report the board's
# identity, flash state and the sha256 of every file of its manifest and of the new tree, in
# one round trip. The hashes come one line a file ("M" or "-" for in the board's manifest or
# not, the sha256 or "-", the path) rather than in the JSON: a whole tree's worth of JSON is
# one 6 KB string, a block a small heap may not have in one piece.
PROBE = _LIB + ROLL_FORWARD + """roll_forward()
m=_j('manifest.json') or {}
fs=m.get('files') or {}
W=%(want)r
r={'impl':[sys.implementation.name,list(sys.implementation.version)[:3],getattr(sys.implementation,'_mpy',None),sys.platform],'fwid':m.get('fwid')}
try:
 import machine;r['uid']=binascii.hexlify(machine.unique_id()).decode()
except Exception:r['uid']=None
c=_j('config.json');r['device']=c.get('device_id') if isinstance(c,dict) else None
try:s=os.statvfs('/');r['free']=s[0]*s[3]
except Exception:r['free']=None
try:
 f=open('.mobiot-w','w');f.write('w');f.close();os.remove('.mobiot-w');r['rw']=0
except OSError as e:r['rw']=e.args[0]
for p in ('manifest.old','manifest.tmp.new'):_rm(p)
print(json.dumps(r))
for p in set(fs)|set(W):
 _rm(p+'.new');_rm(p+'.old');print('M' if p in fs else '-',_h(p) or '-',p)
print('end')
"""

# Receiver: the files arrive as one raw-deflate stream, escaped so that no 0x03 (Ctrl-C, which
# the board's serial interrupt turns into KeyboardInterrupt) is on the wire: 0x10 x means x^0x20.
# The host sends exactly %(total)d bytes in blocks of %(block)d; the board prints "+" each time
# it has taken a block out of its serial input buffer, which holds 259 bytes on an ESP32
# (ports/esp32/mphalport.c stdin_ringbuf_array[260]), so the four blocks of 64 bytes in flight never overflow it.
# Each file is written to P.new as it is decompressed (the commit checks its sha256 on flash);
# the new manifest comes last, as manifest.tmp.new. After an error the
# rest of the stream is still read, so that none of it reaches the REPL.
RECEIVE = _LIB + """import io,deflate
F=%(files)r
T=%(total)d
B=%(block)d
i=sys.stdin.buffer
class W(io.IOBase):
 def __init__(s):s.n=0;s.d=b'';s.p=0;s.e=0;s.b=bytearray(B)
 def blk(s):
  k=min(B,T-s.n)
  if k<=0:return b''
  v=memoryview(s.b);g=0
  while g<k:g+=i.readinto(v[g:k])
  s.n+=k;sys.stdout.write('+')
  d=bytes(v[:k]);h=b''
  if s.e:h=bytes((d[0]^32,));d=d[1:];s.e=0
  if b'\\x10' in d:
   q=d.split(b'\\x10');r=[h,q[0]]
   for t in q[1:]:
    if t:r.append(bytes((t[0]^32,)));r.append(t[1:])
    else:s.e=1
   return b''.join(r)
  return h+d
 def readinto(s,b):
  while s.p>=len(s.d):
   if s.n>=T:return 0
   s.d=s.blk();s.p=0
  n=min(len(b),len(s.d)-s.p)
  b[:n]=s.d[s.p:s.p+n];s.p+=n
  return n
def _md(p):
 a=''
 for c in p.split('/')[:-1]:
  a=a+'/'+c if a else c
  try:os.mkdir(a)
  except OSError:pass
w=W();z=deflate.DeflateIO(w,deflate.RAW,%(wbits)d)
b=bytearray(512);v=memoryview(b);err=None
for p,n in F:
 try:
  _md(p);f=open(p+'.new','wb')
  while n:
   k=z.readinto(v[:min(512,n)])
   if not k:raise ValueError('stream ends early')
   f.write(v[:k]);n-=k
  f.close()
 except OSError as e:err='OSError %%d %%s'%%(e.args[0],p);break
 except Exception as e:err='%%s %%s'%%(e,p);break
while w.n<T:w.blk()
if err:
 for p,n in F:_rm(p+'.new')
print('\\n'+json.dumps({'err':err}))
"""

# Commit: check the received files on flash against the new manifest, back up what they
# replace, rename the manifest to the commit record (the switch-over point), roll forward, then
# end safe mode by removing crash.cnt (docs/protocol.md "Crash guard and safe mode").
COMMIT = _LIB + ROLL_FORWARD + """M=_j('manifest.tmp.new')
A=M['apply'];H=M['files']
def _cp(a,b):
 s=open(a,'rb');d=open(b+'.tmp','wb');x=bytearray(512)
 while 1:
  n=s.readinto(x)
  if not n:break
  d.write(memoryview(x)[:n])
 s.close();d.close();os.rename(b+'.tmp',b)
for p in A:
 if _h(p+'.new')!=H[p]:raise OSError(5,'flash does not hold what was sent: '+p)
for p in A:
 if _e(p):_cp(p,p+'.old')
if _e('manifest.json'):_cp('manifest.json','manifest.old')
os.rename('manifest.tmp.new','manifest.new')
roll_forward()
_rm('crash.cnt')
print('committed')
"""

# Rollback to the previous set after a failed verify (the crashes counted meanwhile were the new
# firmware's: crash.cnt goes too); Cleanup after a passed one.
ROLLBACK = _LIB + """for p in %(apply)r+%(remove)r:
 if _e(p+'.old'):os.rename(p+'.old',p)
 elif p in %(apply)r:_rm(p)
if _e('manifest.old'):os.rename('manifest.old','manifest.json')
else:_rm('manifest.json')
_rm('crash.cnt')
print('rolled back')
"""

CLEANUP = _LIB + """for p in %(paths)r:_rm(p+'.old')
_rm('manifest.old')
for d in %(dirs)r:
 try:os.rmdir(d)
 except OSError:pass
print('clean')
"""

# Identity only (fleet matching): the board's unique id and the device id of its config.
IDENT = _LIB + """r={}
try:
 import machine;r['uid']=binascii.hexlify(machine.unique_id()).decode()
except Exception:r['uid']=None
c=_j('config.json');r['device']=c.get('device_id') if isinstance(c,dict) else None
print(json.dumps(r))
"""
