# SPDX-License-Identifier: GPL-2.0
"""dualmirrorctl's command line (argparse): resource verbs and the
low-level peer and primary commands.  Exit status: 0 success, 1 failure,
2 bad usage."""

import argparse
import os
import sys

from . import __version__, config, peer, primary, resource
from .util import PROG, Error, UsageError, need_root, read_secret

CHAP_WARNING = ("exposes SECRET in the process listing and the shell history: "
                "prefer --chap-user USER --chap-file FILE")


class Parser(argparse.ArgumentParser):
    def error(self, message):
        message = message.replace("'primary-resource', ", "")
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: {message}\nTry '{self.prog} --help'.\n")
        sys.exit(2)


def _chap(args, need_allow=False):
    """(user, secret) or None from --chap / --chap-user + --chap-file."""
    if args.chap and (args.chap_file or args.chap_user):
        raise UsageError("--chap and --chap-user/--chap-file exclude each other")
    if args.chap:
        user, sep, secret = args.chap.partition(":")
        if not sep or not user or not secret:
            raise UsageError("--chap takes USER:SECRET")
        chap = (user, secret)
    elif args.chap_file or args.chap_user:
        if not (args.chap_file and args.chap_user):
            raise UsageError("--chap-file needs --chap-user USER (and the reverse)")
        chap = None
    else:
        return None
    if need_allow and not args.allow:
        raise UsageError("--chap needs --allow INITIATOR-IQN")
    if chap is None:
        chap = (args.chap_user, read_secret(args.chap_file))
    return chap


def _add_chap_opts(p, what):
    p.add_argument("--chap", metavar="USER:SECRET",
                   help=f"{what} (kept for compatibility: {CHAP_WARNING})")
    p.add_argument("--chap-user", metavar="USER", help="the CHAP user name")
    p.add_argument("--chap-file", metavar="FILE",
                   help="a file whose first line is the CHAP secret ('-': "
                        "standard input); keep it mode 0600")


# ---- low-level commands --------------------------------------------------------

def cmd_peer_add(args, out):
    need_root()
    out.write(peer.add(args.backing, meta=args.meta) + "\n")


def cmd_peer_remove(args, out):
    need_root()
    peer.remove(args.disk)


def cmd_peer_export(args, out):
    peer.check_iqn(args.iqn)
    if args.allow:
        peer.check_iqn(args.allow)
    ip, port = peer.parse_portal(args.portal)
    need_root()
    chap = _chap(args, need_allow=True)
    dev = peer.export(args.disk, args.iqn, ip, port, args.allow,
                      chap[0] if chap else None, chap[1] if chap else None,
                      args.transport)
    extra = ", iSER and iSCSI/TCP" if args.transport == "iser" else ""
    out.write(f"exported {dev} as {args.iqn} on {ip}:{port} (LUN 0){extra}\n")
    if not args.allow:
        out.write("WARNING: no --allow given: the target is OPEN (demo mode): "
                  "any initiator can log in and write\n")
    elif chap:
        out.write(f"only {args.allow} may log in, with CHAP user {chap[0]}\n")
    else:
        out.write(f"only {args.allow} may log in (no CHAP)\n")


def cmd_peer_unexport(args, out):
    need_root()
    iqns = peer.unexport(args.target)
    out.write(f"removed iSCSI target(s): {' '.join(iqns)}\n")


def cmd_peer_status(args, out):
    peer.print_status(out)


def cmd_primary_attach(args, out):
    portal = primary.normalize_portal(args.portal)
    if not peer.IQN_RE.match(args.iqn):
        raise UsageError(f"'{args.iqn}' is not an iqn.YYYY-MM.reversed.domain[:name] name")
    chap = _chap(args)
    need_root()
    out.write(primary.attach(portal, args.iqn, chap, args.transport) + "\n")


def cmd_primary_detach(args, out):
    need_root()
    primary.detach(args.iqn)


def cmd_primary_status(args, out):
    need_root()
    primary.print_status(args.name, out)


# ---- resource verbs --------------------------------------------------------------

def _ctx(args):
    res = config.load(args.name, args.config_dir)
    return resource.Ctx(res, args.node)


def _seconds(v):
    try:
        s = float(v)
    except ValueError:
        s = -1
    if not 0 <= s <= 3600:
        raise argparse.ArgumentTypeError(f"'{v}' is not a number of seconds (0 to 3600)")
    return s


def _verb(fn, attrs=(), **consts):
    def run(args, out):
        need_root()
        ctx = _ctx(args)
        fd = resource.lock(ctx.res.name)
        try:
            return fn(ctx, out, **{a: getattr(args, a) for a in attrs}, **consts)
        finally:
            os.close(fd)
    return run


def cmd_status(args, out):
    need_root()
    names = [args.name] if args.name else config.names(args.config_dir)
    sts, failed = [], False
    for n in names:
        try:
            sts.append(resource.status(resource.Ctx(config.load(n, args.config_dir),
                                                    args.node)))
        except config.ConfigError as e:
            for line in e.errors:
                print(line, file=sys.stderr)
            failed = True
        except Error as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            failed = True
    if args.json:
        out.write(resource.status_json(sts[0] if args.name and sts else sts))
    else:
        if not names:
            out.write(f"no resources in {args.config_dir or config.CONF_DIR}\n")
        for st in sts:
            out.write(resource.format_status(st))
    if failed:
        sys.exit(1)


def cmd_check(args, out):
    for n in args.names or config.names(args.config_dir):
        p = n if "/" in n else config.path_of(n, args.config_dir)
        res = config.parse(p)
        out.write(f"{p}: ok ({res.name}: primary {res.primary.name}, peer "
                  f"{res.peer.name})\n")


def build_parser():
    p = Parser(prog=PROG, description=(
        "Manage dualmirror, a synchronous write mirror between a primary node "
        "(device-mapper target dm-dualmirror) and a peer node (SCSI host "
        "dualmirror_peer, exported over iSCSI by LIO). The resource verbs "
        "(up, down, status, connect, disconnect, adjust, primary, secondary, "
        "verify) work from "
        "/etc/dualmirror/NAME.conf (dualmirror.conf(5)) and do the part of the "
        "node they run on; 'peer' and 'primary' are the low-level commands."),
        epilog="Exit status: 0 on success, 1 on failure, 2 on bad usage.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--node", metavar="HOSTNAME",
                   help="act as this node of the resources (default: the host name)")
    p.add_argument("-C", "--config-dir", metavar="DIR",
                   help=f"the resources' directory (default {config.CONF_DIR}, "
                        "or $DUALMIRROR_CONFIG_DIR)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    def verb(name, fn, helptext, desc):
        kw = {"help": helptext} if helptext else {}   # no help: not listed
        sp = sub.add_parser(name, description=desc, **kw)
        sp.add_argument("name", metavar="NAME", help="the resource (/etc/dualmirror/NAME.conf)")
        sp.set_defaults(func=fn)
        return sp
    sp = verb("up", _verb(resource.up, attrs=("wait",)), "bring a resource up on this node",
              "On the peer node: add the backing device as a dualmirror_peer disk and "
              "export it (LIO, with the ACL and CHAP of the config). On the primary "
              "node: log in to the peer's export, check the peer disk's serial number "
              "(the same as at the first up), and create /dev/mapper/NAME with its "
              "metadata. Bring the peer up first (or give --wait). Does nothing if "
              "already up.")
    sp.add_argument("--wait", metavar="SECS", type=_seconds, default=0,
                    help="primary: wait up to SECS for the peer's export to be "
                    "reachable (both nodes booting at once; default 0)")
    sp = verb("down", _verb(resource.down, attrs=("force",)), "take a resource down on this node",
              "On the primary node: remove /dev/mapper/NAME (a clean shutdown: the "
              "metadata keeps what is out of sync) and log out of the peer. On "
              "the peer node: remove the export and the peer disk; refused while "
              "the primary is logged in, unless --force. Does nothing if down.")
    sp.add_argument("--force", action="store_true",
                    help="peer: also while the primary is logged in (it goes degraded)")
    sp = verb("connect", _verb(resource.message, attrs=("force",), verb="connect"),
              "reconnect the mirror to its peer",
              "On the primary node: the target's 'reconnect' message (leave "
              "degraded, resync what differs). If the peer was absent (after "
              "'primary --force'), log in to its export and load the table with "
              "that disk (the metadata keeps what is out of sync). Nothing to do "
              "on the peer node.")
    sp.add_argument("--force", action="store_true",
                    help="'reconnect force': after a split brain, this copy wins "
                         "(the other node's own writes are lost)")
    verb("disconnect", _verb(resource.message, verb="disconnect"),
         "stop writing to the peer",
         "On the primary node: the target's 'disconnect' message (writes go on "
         "locally and are remembered as out of sync until 'connect'). Nothing to "
         "do on the peer node.")
    sp = verb("primary-resource", _verb(resource.become_primary, attrs=("force",)),
              None, "Make this node the resource's primary (a planned "
              "switchover: run 'secondary NAME' on the other node first). On "
              "the peer node: log in to the other node's export, stop exporting "
              "this node's disk, and create /dev/mapper/NAME over this node's "
              "disk and meta device (no resync: the copies are in sync). Refused "
              "while the other node is logged in to this node's export, or when "
              "its export cannot be reached, unless --force. On the primary: "
              "nothing to do (or 'up'). The role is kept in /var/lib/dualmirror "
              "and used by 'up'. 'primary attach|detach|status' are the "
              "low-level commands (dualmirrorctl primary --help).")
    sp.prog = f"{PROG} primary"
    sp.add_argument("--force", action="store_true",
                    help="failover: also while the other node is logged in, and "
                         "with its export unreachable (the mirror starts degraded, "
                         "its peer absent; 'connect NAME' when it is back)")
    sp = verb("secondary", _verb(resource.become_secondary, attrs=("force",)),
              "make this node the resource's peer",
              "Make this node the resource's peer. On the primary: refused "
              "unless connected and in sync (or --force) and while "
              "/dev/mapper/NAME is open; flush, remove /dev/mapper/NAME (a clean "
              "shutdown: both copies flushed, the bitmap clear), log out of the "
              "peer, then add this node's disk (with its meta device, which keeps "
              "the generation) as a peer disk and export it. On a node that was "
              "the primary before a failover: the same, it rejoins as the peer "
              "and gets only the regions that differ. On the peer: nothing to do "
              "(or 'up').")
    sp.add_argument("--force", action="store_true",
                    help="also when not connected or not in sync: what only this "
                         "copy has is lost when the other node becomes the primary")
    sp = verb("verify", _verb(resource.verify, attrs=("resync", "as_json")),
              "compare the two copies online",
              "On the primary: read both copies (the local disk and the peer's "
              "SCSI disk, O_DIRECT) region by region while the mirror runs, read "
              "a differing region once more (a write in flight may have been "
              "between the legs), and report the regions that still differ. "
              "--resync marks them out of sync and resyncs them from this node "
              "(the target's 'resync SECTOR COUNT' message). The mirror must be "
              "connected and in sync. Exit status: 0 identical, 1 differences "
              "found (or an error), 2 bad usage.")
    sp.add_argument("--resync", action="store_true",
                    help="copy the differing regions from this node to the peer")
    sp.add_argument("--json", dest="as_json", action="store_true",
                    help="the result as JSON")
    verb("adjust", _verb(resource.adjust), "apply a changed config file",
         "Re-read the config and apply what changed without losing the sync "
         "state: on the primary a new table (options) is loaded with "
         "'dmsetup reload' and resumed, the metadata keeps the bitmap; on the "
         "peer the portal, ACL and CHAP of the export are updated in place. "
         "A resource that is down is brought up.")
    sp = sub.add_parser("status", help="show resources",
                        description="The state of one resource (or of every "
                        "resource configured) on this node, like 'drbdadm status': "
                        "role, peer, connection, sync state with percent done and "
                        "time left, last error. --json gives every field.")
    sp.add_argument("name", metavar="NAME", nargs="?")
    sp.add_argument("--json", action="store_true", help="every field, as JSON")
    sp.set_defaults(func=cmd_status)
    sp = sub.add_parser("check", help="check config files",
                        description="Parse resource files (names or paths; "
                        "default: every one) and report every error as FILE:LINE.")
    sp.add_argument("names", metavar="NAME|FILE", nargs="*")
    sp.set_defaults(func=cmd_check)

    # peer
    pp = sub.add_parser("peer", help="low-level commands of the peer node",
                        description="Attach backing devices as peer SCSI disks, "
                        "export them over iSCSI, show their state and counters.")
    ps = pp.add_subparsers(dest="peer_command", metavar="COMMAND", parser_class=Parser)
    ps.required = True
    s = ps.add_parser("add", help="attach a backing device, print the new SCSI disk",
                      description="Attach a block device (opened exclusively) and "
                      "create a SCSI disk of the same capacity and logical block "
                      "size on a new SCSI host; print the disk (/dev/sdX). Its "
                      "serial number and NAA identifier are hashed from the path "
                      "given: use a stable one (/dev/disk/by-id/...).")
    s.add_argument("backing", metavar="BACKING-DEV")
    s.add_argument("--meta", metavar="META-DEV",
                   help="keep the disk's generation on this metadata device "
                        "(the node's meta device of its resource)")
    s.set_defaults(func=cmd_peer_add)
    s = ps.add_parser("remove", help="detach a peer disk",
                      description="Detach a peer disk (/dev/sdX, sdX or hostN). "
                      "Refused while the disk is exported.")
    s.add_argument("disk", metavar="SCSI-DISK")
    s.set_defaults(func=cmd_peer_remove)
    s = ps.add_parser("export", help="export a peer disk over iSCSI (LIO)",
                      description="Export the peer disk with LIO: a pscsi "
                      "backstore, target TARGET-IQN, TPG 1, LUN 0 and a portal. "
                      "--transport tcp: ImmediateData=Yes, InitialR2T=No, "
                      "MaxRecvDataSegmentLength and FirstBurstLength 65536, so a "
                      "write of up to 64 KiB travels in one trip. --transport "
                      "iser: the portal also accepts iSER (ib_isert; needs an RDMA "
                      "device), ImmediateData=No, InitialR2T=Yes. Without --allow "
                      "the target is open to any initiator (demo mode).")
    s.add_argument("disk", metavar="SCSI-DISK")
    s.add_argument("iqn", metavar="TARGET-IQN")
    s.add_argument("--portal", metavar="ADDR:PORT", default="0.0.0.0:3260",
                   help="where to listen (default 0.0.0.0:3260)")
    s.add_argument("--allow", metavar="INITIATOR-IQN",
                   help="admit only this initiator (an ACL)")
    _add_chap_opts(s, "CHAP for the --allow initiator")
    s.add_argument("--transport", choices=("tcp", "iser"), default="tcp")
    s.set_defaults(func=cmd_peer_export)
    s = ps.add_parser("unexport", help="remove an iSCSI export",
                      description="Remove the iSCSI target (or every target "
                      "exporting SCSI-DISK) and its pscsi backstore.")
    s.add_argument("target", metavar="TARGET-IQN|SCSI-DISK")
    s.set_defaults(func=cmd_peer_unexport)
    s = ps.add_parser("status", help="peer disks, exports and counters",
                      description="Peer disks, their backing devices, "
                      "generation, staged data, exports and counters.")
    s.set_defaults(func=cmd_peer_status)

    # primary
    pp = sub.add_parser("primary", help="make this node a resource's primary "
                        "(primary NAME), or low-level commands of the primary node",
                        usage=f"{PROG} primary [-h] {{NAME [--force] | attach | "
                        "detach | status} ...",
                        description="'primary NAME [--force]' makes this node the "
                        "resource's primary (see 'primary NAME --help'). The "
                        "low-level commands log in to the peer disk, log out, show "
                        "the mirror's status line field by field.")
    ps = pp.add_subparsers(dest="primary_command", metavar="COMMAND", parser_class=Parser,
                           prog=f"{PROG} primary")
    ps.required = True
    s = ps.add_parser("attach", help="log in to the peer's export, print the disk",
                      description="Log in to TARGET-IQN at PORTAL (IP[:PORT], "
                      "default port 3260) with open-iscsi through a static node "
                      "record (no discovery: existing discovery records are left "
                      "alone), set the session parameters for one-trip writes "
                      "and the target's runtime PM to 'on', wait for the peer's "
                      "disk and print it (/dev/sdX). Then create the mirror: "
                      "dmsetup create NAME --table \"0 $(blockdev --getsz LOCAL) "
                      "dualmirror LOCAL /dev/sdX\" (or use 'up NAME').")
    s.add_argument("portal", metavar="PORTAL")
    s.add_argument("iqn", metavar="TARGET-IQN")
    _add_chap_opts(s, "log in with CHAP")
    s.add_argument("--transport", choices=("tcp", "iser"), default="tcp",
                   help="iser: open-iscsi's iser iface (ib_iser, an RDMA device)")
    s.set_defaults(func=cmd_primary_attach)
    s = ps.add_parser("detach", help="log out of the peer's export",
                      description="Log out of TARGET-IQN and forget its node "
                      "record. Refused while a device-mapper device still uses "
                      "the disk (dmsetup remove it first).")
    s.add_argument("iqn", metavar="TARGET-IQN")
    s.set_defaults(func=cmd_primary_detach)
    s = ps.add_parser("status", help="the mirror's status line, field by field",
                      description="The dm device's status line, one field per "
                      "line with its name, and the interrupts per operation of "
                      "each framing.")
    s.add_argument("name", metavar="DM-NAME")
    s.set_defaults(func=cmd_primary_status)
    return p


PRIMARY_LOW = ("attach", "detach", "status")
GLOBAL_WITH_ARG = ("--node", "-C", "--config-dir")


def route(argv):
    """'primary NAME' is the resource verb, 'primary attach|detach|status'
    the low-level commands: send the first to its own parser (its name in
    the parser table is primary-resource).  A resource named like a
    low-level command: 'primary -- NAME'."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in GLOBAL_WITH_ARG:
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            break
    if i >= len(argv) or argv[i] != "primary":
        return argv
    rest = argv[i + 1:]
    for j, a in enumerate(rest):
        if a == "--":
            return argv[:i] + ["primary-resource"] + rest[:j] + rest[j + 1:] \
                if j + 1 < len(rest) else argv
        if not a.startswith("-"):
            if a in PRIMARY_LOW:
                return argv
            return argv[:i] + ["primary-resource"] + rest
    return argv


def main(argv=None):
    parser = build_parser()
    argv = route(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        return args.func(args, out) or 0
    except UsageError as e:
        print(f"{PROG}: {e}\nTry '{PROG} --help'.", file=sys.stderr)
        return 2
    except config.ConfigError as e:
        for line in e.errors:
            print(line, file=sys.stderr)
        return 1
    except Error as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
