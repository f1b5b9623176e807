#!/usr/bin/env python3
"""Reads what the repository's Dockerfile puts in the runtime image, so that the test cluster's
locally assembled image (images.sh) has the same content without a container builder: the Debian
packages of the final stage's `apt-get install` (minus those it purges), where the binary is
copied, its `setcap` file capability, USER, ENTRYPOINT and CMD. Prints them as JSON; fails on a
final stage it does not understand, so the two cannot drift apart silently.

    dockerfile_image.py Dockerfile
"""

import json
import re
import shlex
import sys


def instructions(text):
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        keyword, _, args = cur.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        cur = ""
    return out


def main():
    instrs = instructions(open(sys.argv[1]).read())
    last_from = max(i for i, (k, _) in enumerate(instrs) if k == "FROM")
    base = instrs[last_from][1]
    image = {"base": base, "packages": [], "purged": [], "file_caps": {}, "copy": []}
    for keyword, args in instrs[last_from + 1 :]:
        if keyword == "RUN":
            for command in re.split(r"&&|;", args):
                words = shlex.split(command)
                if "apt-get" not in words:
                    if words and words[0] == "setcap":
                        image["file_caps"][words[2]] = words[1]
                    continue
                verb = next((w for w in words if w in ("install", "purge", "update")), None)
                names = [w for w in words[words.index(verb) + 1 :] if not w.startswith("-")] if verb else []
                if verb == "install":
                    image["packages"] += names
                elif verb == "purge":
                    image["purged"] += names
        elif keyword == "COPY":
            words = shlex.split(args)
            if not words[0].startswith("--from="):
                sys.exit(f"dockerfile_image.py: COPY from the build context is not supported: {args}")
            image["copy"].append({"src": words[1], "dest": words[2]})
        elif keyword == "USER":
            image["user"] = args
        elif keyword in ("ENTRYPOINT", "CMD"):
            image[keyword.lower()] = json.loads(args)
        elif keyword in ("ENV", "WORKDIR", "ADD", "VOLUME", "ARG"):
            sys.exit(f"dockerfile_image.py: {keyword} in the final stage is not supported")
    image["packages"] = [p for p in image["packages"] if p not in image["purged"]]
    if base != "debian:bookworm-slim" or not image["packages"] or len(image["copy"]) != 1:
        sys.exit(f"dockerfile_image.py: unexpected final stage: {image}")
    json.dump(image, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
