"""Citizens for the registration load: one fresh form token, a valid ID number (GB 11643 check
digit, real birth date) and a mobile number per line. Deterministic (seeded)."""
import random, sys

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
for i in range(n):
    token = "%064x" % rng.getrandbits(256)
    body = "330726%04d%02d%02d%03d" % (rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 999))
    id_number = body + CHECK[sum(int(c) * w for c, w in zip(body, W)) % 11]
    phone = "1%d%09d" % (rng.choice([3, 5, 7, 8, 9]), rng.randint(0, 999_999_999))
    print(token, id_number, phone)
