# SPDX-License-Identifier: GPL-2.0
"""Errors, subprocesses and small file helpers shared by the modules."""

import os
import subprocess
import sys
import time

PROG = "dualmirrorctl"


class Error(Exception):
    """A failure: reported as 'dualmirrorctl: error: MSG', exit 1."""


class UsageError(Exception):
    """Bad usage: reported with a pointer to --help, exit 2."""


def warn(msg):
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def need_root():
    if os.geteuid() != 0:
        raise Error("must be run as root")


def run(argv, check=True, input=None, quiet_stderr=False):
    """Run argv (never through a shell); return its stdout as text.

    A failure raises Error with the command's stderr, unless check is
    false (then stdout is returned whatever the status; .rc on the
    function's last result is not kept: use run_rc for that)."""
    try:
        p = subprocess.run(argv, input=input, text=True,
                           stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL if quiet_stderr
                           else subprocess.PIPE)
    except FileNotFoundError:
        raise Error(f"'{argv[0]}' is not installed") from None
    if check and p.returncode != 0:
        err = (p.stderr or "").strip().splitlines()
        raise Error(f"{' '.join(argv[:3])}...: "
                    f"{err[-1] if err else 'exit status %d' % p.returncode}")
    return p.stdout


def run_rc(argv, input=None):
    """Run argv; return (status, stdout, stderr)."""
    try:
        p = subprocess.run(argv, input=input, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        return 127, "", f"'{argv[0]}' is not installed"
    return p.returncode, p.stdout, p.stderr


def have_cmd(name):
    return any(os.access(os.path.join(d, name), os.X_OK)
               for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":"))


def readval(path, default=None):
    """The first line of a (sysfs) file, stripped; default if unreadable."""
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return default


def write_sysfs(path, value):
    """Write value to a sysfs file; raise OSError with the kernel's errno."""
    with open(path, "w") as f:
        f.write(value + "\n")


def modprobe(*mods):
    for m in mods:
        if os.path.isdir(f"/sys/module/{m}"):
            continue
        rc, _, _ = run_rc(["modprobe", m])
        if rc != 0:
            raise Error(f"cannot load kernel module {m}")


def devnum(path):
    """'MAJ:MIN' of a block device path; Error if it is none."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise Error(f"cannot stat {path}: {e.strerror}") from None
    import stat as _stat
    if not _stat.S_ISBLK(st.st_mode):
        raise Error(f"{path} is not a block device")
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def ensure_node(name):
    """/dev/NAME exists for a block device NAME (no udev in small systems)."""
    path = f"/dev/{name}"
    if os.path.exists(path):
        return path
    dev = readval(f"/sys/class/block/{name}/dev")
    if not dev:
        raise Error(f"no block device {name}")
    ma, mi = dev.split(":")
    import stat as _stat
    os.mknod(path, 0o660 | _stat.S_IFBLK, os.makedev(int(ma), int(mi)))
    return path


def wait_for(pred, seconds, step=0.1):
    end = time.monotonic() + seconds
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def read_secret(path):
    """A CHAP secret from a file ('-': standard input): its first line."""
    try:
        if path == "-":
            line = sys.stdin.readline()
        else:
            with open(path) as f:
                line = f.readline()
    except OSError as e:
        raise Error(f"cannot read the CHAP secret file {path}: {e.strerror}") from None
    secret = line.rstrip("\n")
    if not secret or any(c.isspace() for c in secret):
        raise Error(f"{path}: the CHAP secret is empty or contains white space")
    return secret
