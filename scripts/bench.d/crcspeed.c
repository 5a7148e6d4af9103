// SPDX-License-Identifier: GPL-2.0
/*
 * crcspeed: how fast this CPU (or a QEMU guest's emulation of it) runs one
 * pass of CRC-32C with the SSE4.2 crc32 instruction, one stream, and one
 * memcpy(), each over a 1 MiB buffer; prints MB/s and us per MiB of each.
 * The split framing checks every 4 KiB with CRC-32C on both ends; this puts
 * a number on what one pass costs on the host against in a TCG guest
 * (Documentation/benchmarks.rst, "What remains of issue 11's aims").
 *
 *   cc -O2 -msse4.2 -o build/crcspeed scripts/bench.d/crcspeed.c
 *   build/crcspeed [MiB]                       # on the host, 2000 MiB
 *   scripts/vm-run --no-modules -- build/crcspeed 20   # in a TCG guest
 */
#include <nmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] = "usage: crcspeed [MiB: 1-1000000, default 2000]\n";

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t len = 1 << 20, reps = 2000;
	uint64_t *buf, *dst;
	uint64_t crc = ~0ULL;
	char *end;
	double a, s;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("%s", usage);
		return 0;
	}
	if (argc == 2)
		reps = strtoul(argv[1], &end, 0);
	if (argc > 2 || (argc == 2 && (*end || !reps || reps > 1000000))) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	buf = aligned_alloc(4096, len);
	dst = aligned_alloc(4096, len);
	if (!buf || !dst) {
		perror("crcspeed: aligned_alloc");
		return 1;
	}
	memset(buf, 0x5a, len);
	memset(dst, 0, len);
	a = now();
	for (size_t r = 0; r < reps; r++)
		for (size_t i = 0; i < len / 8; i++)
			crc = _mm_crc32_u64(crc, buf[i]);
	s = now() - a;
	printf("crc32c %08x: %zu MiB in %.3f s: %.0f MB/s, %.1f us per MiB\n",
	       (uint32_t)crc, reps, s, reps * (double)len / s / 1e6,
	       s / reps * 1e6);
	a = now();
	for (size_t r = 0; r < reps; r++) {
		memcpy(dst, buf, len);
		buf[r % (len / 8)]++;	/* a different source every pass */
	}
	s = now() - a;
	printf("memcpy %08x: %zu MiB in %.3f s: %.0f MB/s, %.1f us per MiB\n",
	       (uint32_t)dst[1], reps, s, reps * (double)len / s / 1e6,
	       s / reps * 1e6);
	return 0;
}
