# SPDX-License-Identifier: GPL-2.0
KDIR ?= $(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64)))
all:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
