# SPDX-License-Identifier: GPL-2.0
"""/etc/dualmirror/NAME.conf: one resource per file (dualmirror.conf(5)).

A strict parser: every problem is reported as FILE:LINE: MESSAGE, all of
them at once, and a file with any problem yields no configuration at all,
so that a verb given a bad file changes nothing.
"""

import glob
import ipaddress
import os
import re

from .peer import IQN_RE

CONF_DIR = os.environ.get("DUALMIRROR_CONFIG_DIR", "/etc/dualmirror")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")

# key: (required, checker) per section kind; checkers return the value or
# raise ValueError with what is wrong.


def _iqn(v):
    if not IQN_RE.match(v):
        raise ValueError(f"'{v}' is not an IQN (iqn.YYYY-MM.reversed.domain[:name])")
    return v


def _abspath(v):
    if not v.startswith("/") or any(c.isspace() for c in v):
        raise ValueError(f"'{v}' is not an absolute path")
    return os.path.normpath(v) if not v.startswith("//") else v


def _addr(v):
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ValueError(f"'{v}' is not an IPv4 or IPv6 address") from None


def _int_range(lo, hi, mult=1, pow2=False):
    def check(v):
        if not re.fullmatch(r"[0-9]+", v):
            raise ValueError(f"'{v}' is not a number")
        n = int(v)
        if not lo <= n <= hi:
            raise ValueError(f"{n} is out of range ({lo} to {hi})")
        if n % mult:
            raise ValueError(f"{n} is not a multiple of {mult}")
        if pow2 and n & (n - 1):
            raise ValueError(f"{n} is not a power of 2")
        return n
    return check


def _bool(v):
    if v.lower() in ("yes", "true", "on", "1"):
        return True
    if v.lower() in ("no", "false", "off", "0"):
        return False
    raise ValueError(f"'{v}' is not yes or no")


def _choice(*choices):
    def check(v):
        if v not in choices:
            raise ValueError(f"'{v}' is not one of: {', '.join(choices)}")
        return v
    return check


def _word(v):
    if not re.fullmatch(r"[\x21-\x7e]+", v):
        raise ValueError(f"'{v}' must be printable ASCII without spaces")
    return v


def _hostname(v):
    if not HOST_RE.match(v):
        raise ValueError(f"'{v}' is not a host name")
    return v


SECTIONS = {
    "resource": {
        "target_iqn": (True, _iqn),
        "primary": (True, _hostname),
        "transport": (False, _choice("tcp", "iser")),
        "chap_user": (False, _word),
        "chap_secret_file": (False, _abspath),
    },
    "options": {
        "inline_max": (False, _int_range(0, 131072, 512)),
        "peer_timeout": (False, _int_range(100, 60000)),
        "region_size": (False, _int_range(8, 16777216, pow2=True)),
        "resync_rate": (False, _int_range(0, 2**32 - 1)),
        "nosync": (False, _bool),
    },
    "node": {
        "disk": (True, _abspath),
        "meta": (True, _abspath),
        "address": (True, _addr),
        "port": (False, _int_range(1, 65535)),
        "initiator": (False, _iqn),
    },
}

# The table's feature arguments, in the order they are loaded.
OPTION_ORDER = ("inline_max", "peer_timeout", "region_size", "resync_rate")


class ConfigError(Exception):
    """Every problem of one file: .errors is a list of 'FILE:LINE: MSG'."""

    def __init__(self, errors):
        def line(e):
            m = re.match(r".*?:([0-9]+): ", e)
            return int(m.group(1)) if m else 0
        errors = sorted(errors, key=line)
        super().__init__("\n".join(errors))
        self.errors = errors


class Node:
    def __init__(self, name, line, values):
        self.name = name
        self.line = line
        self.disk = values["disk"]
        self.meta = values["meta"]
        self.address = values["address"]
        self.port = values.get("port", 3260)
        self.initiator = values.get("initiator")

    @property
    def portal(self):
        a = self.address
        return f"[{a}]:{self.port}" if ":" in a else f"{a}:{self.port}"

    def as_dict(self):
        return {"name": self.name, "disk": self.disk, "meta": self.meta,
                "address": self.address, "port": self.port,
                "initiator": self.initiator}


class Resource:
    def __init__(self, name, path, res, opts, nodes):
        self.name = name
        self.path = path
        self.target_iqn = res["target_iqn"]
        self.transport = res.get("transport", "tcp")
        self.chap_user = res.get("chap_user")
        self.chap_secret_file = res.get("chap_secret_file")
        self.options = opts
        self.nodes = nodes
        self.primary = nodes[res["primary"]]
        self.peer = next(n for n in nodes.values() if n is not self.primary)

    def node(self, hostname):
        return self.nodes.get(hostname)

    def role_of(self, node):
        return "primary" if node is self.primary else "peer"

    def table_features(self, meta_devnum, new_meta):
        """The table's feature arguments (meta_dev given as MAJ:MIN)."""
        feats = []
        for k in OPTION_ORDER:
            if k in self.options:
                feats += [k, str(self.options[k])]
        feats += ["meta_dev", meta_devnum]
        if new_meta and self.options.get("nosync"):
            feats.append("nosync")
        return feats

    def as_dict(self):
        return {"name": self.name, "file": self.path,
                "target_iqn": self.target_iqn, "transport": self.transport,
                "chap_user": self.chap_user,
                "chap_secret_file": self.chap_secret_file,
                "options": dict(self.options),
                "primary": self.primary.name, "peer": self.peer.name,
                "nodes": {n: v.as_dict() for n, v in self.nodes.items()}}


def parse(path, name=None):
    """Parse one resource file; return a Resource or raise ConfigError."""
    if name is None:
        name = os.path.basename(path)
        if name.endswith(".conf"):
            name = name[:-5]
    errors = []

    def err(line, msg):
        errors.append(f"{path}:{line}: {msg}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}:1: not UTF-8 text"]) from None
    if not NAME_RE.match(name):
        err(1, f"resource name '{name}' (from the file name) must be letters, "
               "digits and _.+- (at most 64)")

    sections = {}      # key -> (kind, line, {key: (value, line)})
    order = []
    cur = None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(";"):
            continue
        if line.startswith("["):
            m = re.fullmatch(r"\[\s*([a-z]+)(?:\s+(\S+))?\s*\]", line)
            if not m:
                err(n, f"malformed section header '{line}'")
                cur = None
                continue
            kind, arg = m.group(1), m.group(2)
            if kind not in SECTIONS:
                err(n, f"unknown section [{kind}] (expected [resource], [options] "
                       "or [node HOSTNAME])")
                cur = None
                continue
            if kind == "node":
                if arg is None:
                    err(n, "[node] needs a host name: [node HOSTNAME]")
                    cur = None
                    continue
                try:
                    _hostname(arg)
                except ValueError as e:
                    err(n, f"[node {arg}]: {e}")
                    cur = None
                    continue
                key = ("node", arg)
            else:
                if arg is not None:
                    err(n, f"[{kind}] takes no argument")
                    cur = None
                    continue
                key = (kind, None)
            if key in sections:
                err(n, f"duplicate section [{' '.join(k for k in key if k)}] "
                       f"(first at line {sections[key][1]})")
                cur = None
                continue
            sections[key] = (kind, n, {})
            order.append(key)
            cur = key
            continue
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", line)
        if not m:
            err(n, f"expected 'key = value', a [section] or a # comment: '{line}'")
            continue
        k, v = m.group(1), m.group(2).strip()
        if cur is None:
            err(n, f"'{k}' outside a section (or in a bad one)")
            continue
        kind, _, vals = sections[cur]
        spec = SECTIONS[kind]
        if k not in spec:
            err(n, f"unknown key '{k}' in [{kind}] (known: {', '.join(spec)})")
            continue
        if k in vals:
            err(n, f"duplicate key '{k}' (first at line {vals[k][1]})")
            continue
        if v == "":
            err(n, f"'{k}' has no value")
            continue
        try:
            vals[k] = (spec[k][1](v), n)
        except ValueError as e:
            err(n, f"{k}: {e}")
            vals[k] = (None, n)
    last = max(len(lines), 1)

    # Required keys, sections and cross-checks.
    for key in order:
        kind, n, vals = sections[key]
        for k, (req, _) in SECTIONS[kind].items():
            if req and k not in vals:
                err(n, f"[{' '.join(x for x in key if x)}]: missing '{k}'")
    if ("resource", None) not in sections:
        err(last, "no [resource] section")
    nodes_keys = [k for k in order if k[0] == "node"]
    if len(nodes_keys) != 2:
        err(sections[nodes_keys[2]][1] if len(nodes_keys) > 2 else last,
            f"a resource has exactly two [node HOSTNAME] sections, this file has "
            f"{len(nodes_keys)}")
    if errors:
        raise ConfigError(errors)

    def plain(key):
        return {k: v for k, (v, _) in sections.get(key, (None, 0, {}))[2].items()}
    res = plain(("resource", None))
    rline = sections[("resource", None)][1]
    rvals = sections[("resource", None)][2]
    opts = plain(("options", None))
    nodes = {k[1]: Node(k[1], sections[k][1], plain(k)) for k in nodes_keys}
    if res["primary"] not in nodes:
        err(rvals["primary"][1], f"primary: '{res['primary']}' is not one of the "
                                 f"[node] sections ({', '.join(nodes)})")
    if ("chap_user" in res) != ("chap_secret_file" in res):
        err(rline, "[resource]: chap_user and chap_secret_file go together")
    for nd in nodes.values():
        if nd.disk == nd.meta:
            err(nd.line, f"[node {nd.name}]: disk and meta are the same device")
    if not errors:
        prim = nodes[res["primary"]]
        if "chap_user" in res and not prim.initiator:
            err(prim.line, f"[node {prim.name}]: CHAP needs the primary's "
                           "'initiator' (the peer's ACL)")
        a, b = nodes.values()
        if a.address == b.address:
            err(b.line, f"[node {b.name}]: the same address as [node {a.name}]")
    if errors:
        raise ConfigError(errors)
    return Resource(name, path, res, opts, nodes)


def path_of(name, conf_dir=None):
    return os.path.join(conf_dir or CONF_DIR, f"{name}.conf")


def load(name, conf_dir=None):
    if "/" in name or not NAME_RE.match(name):
        raise ConfigError([f"'{name}' is not a resource name"])
    path = path_of(name, conf_dir)
    if not os.path.exists(path):
        raise ConfigError([f"{path}: no such file (resource '{name}' is not configured)"])
    return parse(path)


def names(conf_dir=None):
    return sorted(os.path.basename(p)[:-5]
                  for p in glob.glob(os.path.join(conf_dir or CONF_DIR, "*.conf")))
