#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every binary's --help and its man page document the same options.

usage: man_help.py MANPAGE BINARY [OWN_HELP_END]

Options are the tokens -x, --long and -o name (name= for valued ones).
The man page's OPTIONS/COMMANDS section must not document an option the
help lacks, and every option of the binary's own help text must be in the
man page.  OWN_HELP_END names the line where a help stops being the
binary's own (daxfs appends libfuse's generic options after its own).
"""
import re
import subprocess
import sys

TOKEN = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*(?:\s+[a-z_]+=?)?)")


def normalize(tok):
    tok = re.sub(r"\s+", " ", tok.strip())
    if tok.startswith("-o "):
        name = tok[3:]
        return "-o " + (name if name.endswith("=") or "=" not in name else name.split("=")[0] + "=")
    return tok.split(" ")[0]


def man_options(path):
    text = open(path).read()
    sections = re.split(r"^\.SH ", text, flags=re.M)
    opts = set()
    for sec in sections:
        title = sec.split("\n", 1)[0].strip().strip('"')
        if title not in ("OPTIONS", "COMMANDS"):
            continue
        lines = sec.split("\n")
        for i, line in enumerate(lines):
            if line.startswith(".TP") and i + 1 < len(lines):
                tag = lines[i + 1]
                tag = re.sub(r"^\.(B|BI|BR|I)\s+", "", tag)
                tag = tag.replace("\\-", "-").replace("\\ ", " ").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
                tag = tag.replace(",", " ")
                for m in re.finditer(r"(-o [a-z_]+=?|--?[a-zA-Z][\w-]*|^[a-z]+(?= |$))", tag):
                    opts.add(normalize(m.group(1)))
    return opts


def help_options(binary, own_end):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    own = text.split(own_end, 1)[0] if own_end else text
    def scan(t):
        found = set()
        for line in t.splitlines():
            for m in re.finditer(r"-o ([a-z_]+=?)", line):
                found.add("-o " + m.group(1))
            for m in re.finditer(r"(?<![\w=-])(--?[a-zA-Z][\w-]*)", line):
                found.add(m.group(1))
            m = re.match(r"^\s{2}([a-z]+)\s", line)  # daxfs-ctl commands
            if m:
                found.add(m.group(1))
        return found
    return scan(own), scan(text)


def main():
    man, binary = sys.argv[1], sys.argv[2]
    own_end = sys.argv[3] if len(sys.argv) > 3 else None
    documented = man_options(man)
    own, everything = help_options(binary, own_end)
    missing_in_help = sorted(o for o in documented if o not in everything and o != "-o")
    missing_in_man = sorted(o for o in own if o not in documented and o != "-o")
    print("%s: %d options in the man page, %d in its own --help" % (binary, len(documented), len(own)))
    ok = True
    if missing_in_help:
        print("FAIL: documented in %s but not in --help: %s" % (man, ", ".join(missing_in_help)))
        ok = False
    if missing_in_man:
        print("FAIL: in --help but not in %s: %s" % (man, ", ".join(missing_in_man)))
        ok = False
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


sys.exit(main())
