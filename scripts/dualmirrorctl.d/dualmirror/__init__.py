# SPDX-License-Identifier: GPL-2.0
"""dualmirrorctl: the dualmirror administration tool, as a Python package.

Modules: util (errors, commands, sysfs), peer (dualmirror_peer.ko and its
LIO export), primary (open-iscsi login, the dm target), config (the
/etc/dualmirror/NAME.conf parser), resource (the verbs on resources),
cli (argparse).
"""

__version__ = "0.2.0"
