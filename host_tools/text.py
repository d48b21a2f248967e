"""Text from outside (a card's INFO strings, an operator's name, audit fields) made safe to
print on a terminal: control characters are shown escaped, never sent raw.

A hostile card or a crafted `--operator` could otherwise put ANSI escape sequences on the
support desk's terminal (rewriting what is shown, setting the window title, ...). Every C0 and
C1 control character, DEL, and the invisible format characters that reorder or hide text (bidi
overrides, zero-width marks: Unicode category Cf) become `\\xNN` / `\\uNNNN`; a backslash
becomes `\\\\`, so the escaped form cannot be confused with the text it stands for.
"""

from __future__ import annotations

import unicodedata


def printable(text: object) -> str:
    """`text` (anything, as str()) with every control and format character escaped."""
    out = []
    for ch in str(text):
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in "\u2028\u2029":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
