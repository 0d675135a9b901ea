#!/usr/bin/env python3
"""Writes the environment-variable table of README.md (between the markers
<!-- env:begin --> and <!-- env:end -->) from src/record/config.h, the one
table of variables. With --check, exits 1 when README.md is out of date."""
import re
import sys

root = sys.path[0] + "/.."
config = open(root + "/src/record/config.h").read()
rows = re.findall(r'X\((\w+),\s*"([^"]*)",\s*"([^"]*)"\)', config)
table = ["| variable | default | meaning |", "|---|---|---|"]
table += [f"| `{n}` | {d} | {h} |" for n, d, h in rows]
readme_path = root + "/README.md"
readme = open(readme_path).read()
new = re.sub(r"(<!-- env:begin -->\n).*?(<!-- env:end -->)",
             lambda m: m.group(1) + "\n".join(table) + "\n" + m.group(2), readme, flags=re.S)
if "--check" in sys.argv:
    if new != readme:
        print("check: README.md's environment table is out of date: run scripts/gen-readme-env.py")
        sys.exit(1)
else:
    open(readme_path, "w").write(new)
