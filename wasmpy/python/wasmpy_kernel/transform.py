"""Skipping IPython's token transforms for cells that cannot need them.

IPython re-tokenizes every cell (in pure Python) to find its special syntax:
`a = %magic`, `a = !cmd`, `%magic`, `!cmd`, `obj?`, and the autocall escapes
`,f a b`, `;f a b`, `/f a`. Each of those needs a `%`, `!` or `?` somewhere
in the cell, or a line that begins with `,`, `;` or `/`. A cell with none of
them (most cells) cannot be changed by the token transforms, so they are
skipped; in the sandbox the tokenizing cost a tenth of a `pass` cell.
Cleanup transforms (prompts, indentation) and cell magics still run, as do
IPython's prefilters (automagic, aliases) after them.
"""

from __future__ import annotations

from IPython.core.inputtransformer2 import EscapedCommand, HelpEnd, MagicAssign, SystemAssign, TransformerManager

_DEFAULT = (MagicAssign, SystemAssign, EscapedCommand, HelpEnd)
_LINE_ESCAPES = (",", ";", "/")


def needs_token_transforms(lines: list[str]) -> bool:
    """Whether IPython's default token transforms might change lines."""
    for line in lines:
        if "%" in line or "!" in line or "?" in line or line.lstrip().startswith(_LINE_ESCAPES):
            return True
    return False


def may_await(cell: str) -> bool:
    """Whether a cell might be a coroutine at top level: that needs `await`,
    `async for` or `async with`, so a cell without "await" or "async" is not."""
    return "await" in cell or "async" in cell


class WasmTransformerManager(TransformerManager):
    """TransformerManager that skips the token transforms when they cannot
    apply (with IPython's default set of them only)."""

    def do_token_transforms(self, lines: list[str]) -> list[str]:
        if tuple(self.token_transformers) == _DEFAULT and not needs_token_transforms(lines):
            return lines
        return super().do_token_transforms(lines)
