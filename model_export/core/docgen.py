"""Generated documentation: Markdown tables and the generated sections of a Markdown file."""
from __future__ import annotations


def markdown(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    return head + "".join("| " + " | ".join(fmt(r[c]) for c in columns) + " |\n" for r in rows)


def replace_sections(text: str, sections: dict[str, str]) -> str:
    """Replace what lies between `<!-- generated:NAME -->` and `<!-- /generated -->`."""
    for name, body in sections.items():
        start = f"<!-- generated:{name} -->"
        if start not in text:
            raise ValueError(f"the document has no {start} marker")
        head, rest = text.split(start, 1)
        end = rest.index("<!-- /generated -->")
        text = head + start + "\n" + body + rest[end:]
    return text


def read_sections(text: str) -> dict[str, str]:
    out = {}
    for part in text.split("<!-- generated:")[1:]:
        name, rest = part.split(" -->", 1)
        out[name] = rest.split("<!-- /generated -->", 1)[0].lstrip("\n")
    return out
