"""Citizens for the registration load: one fresh form token, a valid ID number (GB 11643 check
digit, real birth date) and a mobile number per line. Deterministic (seeded). The numbers differ in
their masks (first three and last four digits, up to 500,000 citizens), so that the benchmark can
find each one's verification code in the outbox, which shows only the mask."""
import random, sys

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
PREFIXES = [second * 10 + d for second in (3, 5, 7, 8, 9) for d in range(10)]
for i in range(n):
    token = "%064x" % rng.getrandbits(256)
    body = "330726%04d%02d%02d%03d" % (rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 999))
    id_number = body + CHECK[sum(int(c) * w for c, w in zip(body, W)) % 11]
    phone = "1%02d%04d%04d" % (PREFIXES[i // 10000 % len(PREFIXES)], rng.randint(0, 9999), i % 10000)
    print(token, id_number, phone)
