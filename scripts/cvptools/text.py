"""Text from outside cvp, made safe for where it is written: the one place that does it.

Benchmark names, kinds, units, machine names (a CPU model or `--machine`), host names, commits,
paths and the reasons a summary gives are read from files and command lines that anyone may
have written. Before any of them reaches a terminal, a Markdown document (the gate's and
history's, ready for a pull-request comment) or a file another tool renders as Markdown (the
exports), it passes one of these functions:

  visible(text)     one line for a terminal: every character that is not printable is written
                    \\uXXXX (C0 and C1 controls with ESC, CR, LF, TAB and DEL; format characters,
                    among them the bidirectional embeddings, overrides and isolates U+202A-202E
                    and U+2066-2069, the marks U+200E, U+200F and U+061C and the zero-width
                    characters; the line and paragraph separators U+2028 and U+2029; spaces
                    other than ' '; lone surrogates, private-use and unassigned code points).
                    Nothing it returns can move the cursor, colour the terminal, reorder the
                    line or start a new one.
  md_code(text)     a Markdown code span that shows `visible(text)` literally and nothing else
                    (table=True: safe inside a GFM table cell as well).
  export_name(text) a name for a file whose reader puts it in a code span of a Markdown table
                    without escaping it (github-action-benchmark's comments: `| \\`NAME\\` |`):
                    visible, with the backtick and the pipe written \\u0060 and \\u007c.
  export_label(text) a short label such a reader writes as plain Markdown text (a unit):
                    letters, digits, spaces, '/', '%' and '-' as they are, every other ASCII
                    character \\u00XX, so that no link, image, HTML, emphasis or cell can form.
"""

import re

_BACKTICKS = re.compile("`+")
_PIPE = re.compile(r"(\\?)\|")


def _escape(c):
    n = ord(c)
    return f"\\u{n:04x}" if n <= 0xFFFF else f"\\U{n:08x}"


def visible(text, keep=""):
    """`text` on one line with every character that is not printable (str.isprintable: the
    Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than ' ') written \\uXXXX.
    `keep`: characters let through as they are (the HTML report keeps its no-break space)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " or c in keep else _escape(c) for c in text)


def md_code(text, table=False):
    """`text` as a Markdown code span that shows it literally and nothing else: the one way any
    string from outside cvp (benchmark names, kinds, machines, commits, paths) reaches its
    Markdown.

    Inside a code span CommonMark interprets nothing (no links, images, emphasis, HTML or
    autolinks) except the backtick fence, so the fence is one backtick longer than the longest
    run of backticks in the text (padded with a space where the text begins or ends with a
    backtick, or with a space at both ends, which CommonMark would strip). Characters that are
    not printable become \\uXXXX (`visible`), so the span stays on its line and carries no
    escape sequence or bidirectional override. In a table cell (table=True) GFM splits the row
    at every pipe not escaped by a backslash before any inline parsing, code spans included,
    and then removes the backslash of every escaped pipe: a pipe becomes \\|, and shows as a
    pipe. A pipe right after a backslash is written \\u007c instead: cmark-gfm reads the text's
    own backslash as the pipe's escape and removes it (so the cell would show one backslash
    less), and a renderer that reads a backslash pair first would split the row there."""
    text = visible(text)
    if table and "|" in text:
        text = _PIPE.sub(lambda m: m.group(1) + ("\\u007c" if m.group(1) else "\\|"), text)
    longest = max((len(r) for r in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if not text or text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def export_name(text):
    """A name a reader puts between single backticks in a Markdown table row, unescaped:
    `visible`, and the two characters that would end the code span or split the row (the
    backtick and the pipe) written \\u0060 and \\u007c. Names without them (every name cvpbench
    makes) are unchanged, so a series keeps its name."""
    text = visible(text)
    if "`" in text or "|" in text:
        text = text.replace("`", "\\u0060").replace("|", "\\u007c")
    return text


_LABEL_SAFE = re.compile(r"[A-Za-z0-9 /%-]")


def export_label(text):
    """A short label (a unit) a reader writes as plain Markdown text: letters, digits, spaces,
    '/', '%', '-' and printable characters beyond ASCII as they are; every other ASCII
    character (the Markdown and HTML punctuation, and '.', ':' and '@', which GFM's autolinks
    need) \\u00XX, and what `visible` escapes as it does. 'GFLOP/s', 'GB/s', 'requests/s'
    are unchanged."""
    return "".join(c if (c.isprintable() and ord(c) > 0x7E) or _LABEL_SAFE.match(c)
                   else _escape(c) for c in str(text))
