"""Print the secrets this process was given (planted: no log of the run may hold them), wait, then become the
command: `delayed.py SECONDS COMMAND...`. Tests use the wait to stop the harness while a step is in progress."""

import os
import sys
import time

for name in ("DATABASE_URL", "PGPASSWORD", "SHOP_API_TOKEN"):
    print(f"{name}={os.environ.get(name, '')}", flush=True)
time.sleep(float(sys.argv[1]))
os.execvp(sys.argv[2], sys.argv[2:])
