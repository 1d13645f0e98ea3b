#!/usr/bin/env python3
"""Reads a QR code off a terminal screen dump and prints what it encodes (via zbarimg).

usage: qr_from_screen.py SCREEN_FILE WORK_DIR

The same reading as tests/common/qr_image.rs (`decode_to_bitmap`), for text as a terminal shows
it: each character cell holds two modules, upper and lower half ('▀', '▄', '█', ' '). Colours are
gone in a `tmux capture-pane` without -e, and the OpenSSH client turns an ESC inside a
keyboard-interactive prompt into the four characters "\\033", so SGR sequences, real or shown as
text, are removed first. Without colours, which of ink and blank is dark is unknown: `Utf8`
codes are drawn for dark terminals (ink = light module), `Ansi` codes with their colours removed
read the other way round (ink = dark module). Both readings are tried; zbarimg accepts only the
right one.

Exit status 0 and the decoded text on stdout, or 1 and the reason on stderr.
"""

import os
import re
import subprocess
import sys

# CSI sequences (colours and the like): a real ESC, or how ssh/vis(3) shows it ("\033"), or
# other textual spellings of ESC.
SGR = re.compile(r"(?:\x1b|\\033|\\x1b|\\e|\^\[)\[[0-9;?]*[A-Za-z]")
GLYPHS = {"▀": (True, False), "▄": (False, True), "█": (True, True), " ": (False, False)}
INK = set("▀▄█")
SCALE = 4  # pixels per module
FRAME = 4  # light modules added around the symbol


def candidate_blocks(text):
    """Runs of consecutive lines drawn only with half blocks (at least 10 lines), largest first."""
    blocks, current = [], []
    for raw in text.splitlines():
        line = SGR.sub("", raw).rstrip(" ")
        if line and set(line) <= set(GLYPHS) and set(line) & INK:
            current.append(line)
            continue
        if current:
            blocks.append(current)
        current = []
    if current:
        blocks.append(current)
    return sorted((b for b in blocks if len(b) >= 10), key=len, reverse=True)


def bitmap(lines, ink_dark):
    """Module rows (True = dark); short lines are padded with light modules, then framed."""
    width = max(len(line) for line in lines)
    rows = []
    for line in lines:
        top, bottom = [], []
        for ch in line:
            t, b = GLYPHS[ch]
            top.append(t == ink_dark)
            bottom.append(b == ink_dark)
        # Beyond the drawn text (trailing blanks were stripped) is background: light.
        pad = [False] * (width - len(line))
        rows += [top + pad, bottom + pad]
    full = width + 2 * FRAME
    edge = [[False] * full for _ in range(FRAME)]
    side = [False] * FRAME
    return edge + [side + r + side for r in rows] + edge


def write_pbm(rows, path):
    height, width = len(rows) * SCALE, len(rows[0]) * SCALE
    with open(path, "w") as f:
        f.write(f"P1\n{width} {height}\n")
        for r in rows:
            line = " ".join("1" if dark else "0" for dark in r for _ in range(SCALE))
            for _ in range(SCALE):
                f.write(line + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        text = f.read()
    work = sys.argv[2]
    blocks = candidate_blocks(text)
    if not blocks:
        print("no block of half-block lines on the screen", file=sys.stderr)
        return 1
    tried = 0
    for n, lines in enumerate(blocks):
        for ink_dark in (False, True):
            path = os.path.join(work, f"qr-{n}-{'inkdark' if ink_dark else 'inklight'}.pbm")
            write_pbm(bitmap(lines, ink_dark), path)
            tried += 1
            out = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True)
            decoded = out.stdout.rstrip("\n")
            if out.returncode == 0 and decoded:
                print(decoded)
                return 0
    print(f"zbarimg read none of {tried} images ({len(blocks)} block(s), "
          f"{len(blocks[0])} lines x {max(map(len, blocks[0]))} columns)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
