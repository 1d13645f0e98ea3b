#!/usr/bin/env python3
"""Reads a QR code off a terminal screen dump and prints what it encodes (via zbarimg).

usage: qr_from_screen.py [--background dark|light] SCREEN_FILE WORK_DIR

With --background, the screen is read the way a person's terminal shows it: SCREEN_FILE is a
`tmux capture-pane -e` dump whose SGR colours are honoured (foreground, background, reverse,
256-colour and RGB), cells without colours take the terminal's default ones (light text on a
dark background, or dark text on a light one), and so does everything around the drawing. Only
that one reading is tried: a code drawn for the other background reads inverted, and zbarimg,
like a phone, reads nothing. The mode for the tests' "does it scan here?" questions.

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


# The xterm 256-colour palette's 16 base colours (themes remap these; the tests' terminal does not).
BASE16 = [(0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
          (0, 205, 205), (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0),
          (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255)]
CSI = re.compile(r"\x1b\[([0-9;:?]*)([A-Za-z])")


def palette(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


def is_dark(rgb):
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128


def sgr(params, state):
    """Applies one SGR parameter list to state = [fg, bg, reverse] (None = default colour)."""
    codes = [int(c) if c.isdigit() else 0 for c in (params.replace(":", ";").split(";") if params else ["0"])]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            state[:] = [None, None, False]
        elif c == 7:
            state[2] = True
        elif c == 27:
            state[2] = False
        elif 30 <= c <= 37 or 90 <= c <= 97:
            state[0] = palette(c - 30 if c < 90 else c - 90 + 8)
        elif 40 <= c <= 47 or 100 <= c <= 107:
            state[1] = palette(c - 40 if c < 100 else c - 100 + 8)
        elif c == 39:
            state[0] = None
        elif c == 49:
            state[1] = None
        elif c in (38, 48) and i + 1 < len(codes):
            slot = 0 if c == 38 else 1
            if codes[i + 1] == 5 and i + 2 < len(codes):
                state[slot] = palette(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                state[slot] = tuple(codes[i + 2:i + 5])
                i += 4
        i += 1


def cells_of(text):
    """Each line as (char, top_dark, bottom_dark) cells, colours resolved later by the caller."""
    state = [None, None, False]
    lines = []
    for raw in text.split("\n"):
        cells = []
        pos = 0
        while pos < len(raw):
            m = CSI.match(raw, pos)
            if m:
                if m.group(2) == "m":
                    sgr(m.group(1), state)
                pos = m.end()
                continue
            cells.append((raw[pos], state[0], state[1], state[2]))
            pos += 1
        lines.append(cells)
    return lines


def colour_reading(text, background):
    """The module rows of the largest half-block drawing, as this terminal shows it, or None."""
    default_fg = (0, 0, 0) if background == "light" else (229, 229, 229)
    default_bg = (255, 255, 255) if background == "light" else (0, 0, 0)
    bg_dark = is_dark(default_bg)

    def halves(cell):
        ch, fg, bg, reverse = cell
        fg, bg = fg or default_fg, bg or default_bg
        if reverse:
            fg, bg = bg, fg
        top, bottom = GLYPHS[ch]
        return (is_dark(fg if top else bg), is_dark(fg if bottom else bg))

    blocks, current = [], []
    for cells in cells_of(text):
        chars = "".join(c[0] for c in cells).rstrip(" ")
        coloured = any(c[2] is not None for c in cells)
        if (chars or coloured) and set(chars) <= set(GLYPHS) and (set(chars) & INK or coloured):
            current.append(cells)
            continue
        if current:
            blocks.append(current)
        current = []
    if current:
        blocks.append(current)
    blocks = [b for b in blocks if len(b) >= 10]
    if not blocks:
        return None
    block = max(blocks, key=len)
    width = max(len(cells) for cells in block)
    rows = []
    for cells in block:
        top = [halves(c)[0] for c in cells] + [bg_dark] * (width - len(cells))
        bottom = [halves(c)[1] for c in cells] + [bg_dark] * (width - len(cells))
        rows += [top, bottom]
    full = width + 2 * FRAME
    edge = [[bg_dark] * full for _ in range(FRAME)]
    side = [bg_dark] * FRAME
    return edge + [side + r + side for r in rows] + edge


def main():
    args = sys.argv[1:]
    background = None
    if len(args) == 4 and args[0] == "--background" and args[1] in ("dark", "light"):
        background, args = args[1], args[2:]
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0], encoding="utf-8", errors="replace") as f:
        text = f.read()
    work = args[1]
    if background:
        rows = colour_reading(text, background)
        if rows is None:
            print("no block of half-block lines on the screen", file=sys.stderr)
            return 1
        path = os.path.join(work, f"qr-{background}.pbm")
        write_pbm(rows, path)
        out = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True)
        decoded = out.stdout.rstrip("\n")
        if out.returncode == 0 and decoded:
            print(decoded)
            return 0
        print(f"zbarimg read nothing on a {background} background "
              f"({len(rows) // 2 - FRAME} lines)", file=sys.stderr)
        return 1
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
