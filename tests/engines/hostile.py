"""A hostile job, shared by the isolation tests of the local engine and of `suanli up`.

Run as ``python3 -c HOSTILE TARGETS_JSON`` with ``{"files": {name: path}, "pids": [pid]}``:
it tries to read every file, to read ``/proc/<pid>/environ`` of and to signal (signal 0)
every pid, lists the processes it can see, and prints one JSON object with what it got
(``"READ <content>"`` or ``"DENIED <exception>"`` per attempt), its own environment
(``own_env``), the processes it saw (``visible``: pid -> command line) and its ``uid``.
"""

HOSTILE = r"""
import json, os, sys
targets = json.loads(sys.argv[1])
out = {"files": {}, "environs": {}, "signals": {}}
for name, path in targets["files"].items():
    try:
        with open(path, "rb") as f:
            out["files"][name] = "READ " + f.read(65536).decode(errors="replace")
    except OSError as exc:
        out["files"][name] = "DENIED " + type(exc).__name__
for pid in targets["pids"]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            out["environs"][str(pid)] = "READ " + f.read().decode(errors="replace")
    except OSError as exc:
        out["environs"][str(pid)] = "DENIED " + type(exc).__name__
    try:
        os.kill(pid, 0)
        out["signals"][str(pid)] = "ALLOWED"
    except OSError as exc:
        out["signals"][str(pid)] = "DENIED " + type(exc).__name__
out["own_env"] = dict(os.environ)
visible = {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                visible[entry] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            pass
out["visible"] = visible
out["uid"] = os.getuid()
print(json.dumps(out))
"""
