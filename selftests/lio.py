#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Configure the LIO SCSI target for the VM selftests, with rtslib_fb.

One python3 process configures everything (each targetcli call costs about
5 s under emulation). The kernel modules (target_core_mod, the backstore's
module, iscsi_target_mod) must be loaded and configfs mounted first:
selftests/lib.sh's lio_export does that.

  lio.py export --iqn IQN --dev /dev/sdX [--backstore pscsi|block]
                [--name NAME] [--portal IP:PORT] [--param KEY=VALUE]...
                [--attr KEY=VALUE]...
  lio.py delete --iqn IQN      remove one target (its storage object too)
  lio.py clear                 remove every target and storage object
  lio.py show                  print targets, LUNs and storage objects

--param sets iSCSI login parameters of the TPG (e.g. InitialR2T=No,
MaxRecvDataSegmentLength=262144), --attr TPG attributes. The TPG accepts any
initiator (generate_node_acls=1, no authentication, writable).
"""
import argparse
import sys

from rtslib_fb import (BlockStorageObject, FabricModule, LUN, NetworkPortal,
                       PSCSIStorageObject, RTSRoot, RTSLibError, TPG, Target)


def key_value(text):
    """Parse KEY=VALUE."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    key, value = text.split("=", 1)
    return key, value


def export(args):
    """Export one device as LUN 0 of a new iSCSI target."""
    name = args.name or args.iqn.rsplit(":", 1)[-1]
    if args.backstore == "pscsi":
        so = PSCSIStorageObject(name, dev=args.dev)
    else:
        so = BlockStorageObject(name, dev=args.dev)
    target = Target(FabricModule("iscsi"), args.iqn)
    tpg = TPG(target, 1)
    ip, _, port = args.portal.rpartition(":")
    NetworkPortal(tpg, ip, int(port))
    LUN(tpg, 0, so)
    attrs = {"authentication": "0", "generate_node_acls": "1",
             "demo_mode_write_protect": "0", "cache_dynamic_acls": "1"}
    attrs.update(dict(args.attr))
    for key, value in attrs.items():
        tpg.set_attribute(key, value)
    for key, value in args.param:
        tpg.set_parameter(key, value)
    tpg.enable = True


def delete(args):
    """Delete one target and the storage objects its LUNs used."""
    root = RTSRoot()
    for target in root.targets:
        if target.wwn != args.iqn:
            continue
        objs = [lun.storage_object for tpg in target.tpgs for lun in tpg.luns]
        target.delete()
        for so in objs:
            so.delete()
        return
    raise RTSLibError(f"no target {args.iqn}")


def clear(_args):
    """Remove every target and storage object."""
    RTSRoot().clear_existing(confirm=True)


def show(_args):
    """Print the configuration, one object per line."""
    root = RTSRoot()
    for so in root.storage_objects:
        print(f"storage {so.plugin} {so.name} {so.udev_path}")
    for target in root.targets:
        for tpg in target.tpgs:
            for lun in tpg.luns:
                print(f"target {target.wwn} tpg {tpg.tag} lun {lun.lun} "
                      f"-> {lun.storage_object.name}")


def main():
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export", help="export a device over iSCSI")
    p.add_argument("--iqn", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--backstore", choices=("pscsi", "block"), default="pscsi")
    p.add_argument("--name")
    p.add_argument("--portal", default="127.0.0.1:3260")
    p.add_argument("--param", type=key_value, action="append", default=[])
    p.add_argument("--attr", type=key_value, action="append", default=[])
    p.set_defaults(func=export)
    p = sub.add_parser("delete", help="delete one target")
    p.add_argument("--iqn", required=True)
    p.set_defaults(func=delete)
    sub.add_parser("clear", help="delete everything").set_defaults(func=clear)
    sub.add_parser("show", help="print the setup").set_defaults(func=show)
    args = parser.parse_args()
    try:
        args.func(args)
    except (RTSLibError, OSError) as err:
        print(f"lio.py: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
